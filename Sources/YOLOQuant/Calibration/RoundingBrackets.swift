/// For every weight of a conv, the two levels of its group's grid that enclose it: the choices
/// learned rounding decides between. The grid is a quantized tensor's own (its scheme, bits and
/// per-group parameters, or its integer grid), so this works alike for uniform grids (where it is
/// floor and ceil of w / s), PWLQ's piecewise one, the sub-filter groups' nested integer steps
/// (per sub-filter group) and a codebook's levels (per group). A weight outside its grid's span gets the end level
/// twice, and a weight on a level gets that level twice: neither has a choice to learn.
struct RoundingBrackets {
    /// Value and code of the level at or below each weight, flat W order.
    let down: [Float]
    let downCode: [UInt8]
    /// Value and code of the level at or above, and `up - down` (0 where there is no choice).
    let up: [Float]
    let upCode: [UInt8]
    let range: [Float]

    init(weights: [Float], grid: QuantizedTensor) {
        precondition(weights.count == grid.count, "RoundingBrackets: \(weights.count) weights for \(grid.count) codes")
        let codecs = GroupCodecs(grid)
        let levels = (0..<grid.layout.groupCount).map { codecs.levels(group: $0, bits: grid.bits) }
        var down = [Float](repeating: 0, count: weights.count), up = down, range = down
        var downCode = [UInt8](repeating: 0, count: weights.count), upCode = downCode
        for (i, w) in weights.enumerated() {
            let group = levels[grid.layout.group(ofFlatIndex: i)]
            // First level above w (binary search over the ascending values).
            var lo = 0, hi = group.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if group[mid].value > w { hi = mid } else { lo = mid + 1 }
            }
            let a: (value: Float, code: UInt8), b: (value: Float, code: UInt8)
            if lo == 0 {
                (a, b) = (group[0], group[0])  // below the span
            } else if lo == group.count || group[lo - 1].value == w {
                (a, b) = (group[lo - 1], group[lo - 1])  // above the span, or on a level
            } else {
                (a, b) = (group[lo - 1], group[lo])
            }
            down[i] = a.value
            downCode[i] = a.code
            up[i] = b.value
            upCode[i] = b.code
            range[i] = b.value - a.value
        }
        self.down = down
        self.downCode = downCode
        self.up = up
        self.upCode = upCode
        self.range = range
    }
}

extension GroupCodecs {
    /// The levels of group `group`'s grid, ascending: every code whose value encodes back to
    /// itself (so codes an encoder never produces, such as symmetric's 2^k - 1 or PWLQ's unused
    /// centre code, are left out), one code per value.
    func levels(group: Int, bits: Int) -> [(value: Float, code: UInt8)] {
        var result: [(value: Float, code: UInt8)] = []
        for c in 0..<(1 << bits) {
            let code = UInt8(c)
            let value = decode(code, group: group)
            let back = encode(value, group: group)
            if back.code == code && back.value == value { result.append((value, code)) }
        }
        result.sort { $0.value < $1.value }
        var unique: [(value: Float, code: UInt8)] = []
        for level in result where unique.last?.value != level.value { unique.append(level) }
        return unique
    }

    /// The value of `code` in group `group`.
    @inline(__always)
    func decode(_ code: UInt8, group: Int) -> Float {
        switch codecs {
        case .affine(let list): return list[group].decode(code)
        case .symmetric(let list): return list[group].decode(code)
        case .pwlq(let list): return list[group].decode(code)
        case .nested(let list): return list[group].decode(code)
        case .codebook(let list): return list[group].decode(code)
        }
    }
}
