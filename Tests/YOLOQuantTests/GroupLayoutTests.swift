import Testing
@testable import YOLOQuant

struct GroupLayoutTests {
    /// Filter sizes 27, 2, 18, 1 and 288 (288 = 4 x 64 + 32: group64's last group is short).
    static let shapes = [[4, 3, 3, 3], [5, 2, 1, 1], [2, 3, 2, 3], [1, 1, 1, 1], [3, 32, 3, 3]]

    @Test("groups partition W; counts and sizes as DESIGN's table", arguments: Granularity.allCases)
    func partition(granularity: Granularity) throws {
        for shape in Self.shapes {
            let layout = try GroupLayout(granularity: granularity, shape: shape)
            let (F, C, K) = (shape[0], shape[1], shape[2] * shape[3])
            let expected: Int
            switch granularity {
            case .layer: expected = 1
            case .filter: expected = F
            case .channel: expected = C
            case .fshape: expected = C * K
            case .cshape: expected = F * K
            case .group16, .group32, .group64:
                let size = granularity.subFilterGroupSize!
                expected = F * ((C * K + size - 1) / size)
            }
            #expect(layout.groupCount == expected)
            #expect((0..<layout.groupCount).reduce(0) { $0 + layout.size(ofGroup: $1) } == F * C * K)
            if granularity.subFilterGroupSize == nil { #expect(layout.groupCount * layout.groupSize == F * C * K) }
            var owner = [Int](repeating: -1, count: F * C * K)
            for g in 0..<layout.groupCount {
                let indices = layout.indices(ofGroup: g)
                #expect(indices.count == layout.size(ofGroup: g))
                #expect(indices == indices.sorted(), "elements in ascending flat order")
                for index in indices {
                    #expect(owner[index] == -1)
                    owner[index] = g
                    #expect(layout.group(ofFlatIndex: index) == g)
                }
            }
            #expect(!owner.contains(-1))
        }
    }

    @Test("group index order: channel c, fshape c*K+k, cshape f*K+k")
    func order() throws {
        let shape = [2, 3, 2, 3]  // F=2, C=3, K=6
        func flat(_ f: Int, _ c: Int, _ i: Int, _ j: Int) -> Int { ((f * 3 + c) * 2 + i) * 3 + j }
        let channel = try GroupLayout(granularity: .channel, shape: shape)
        #expect(channel.indices(ofGroup: 1) == [flat(0, 1, 0, 0), flat(0, 1, 0, 1), flat(0, 1, 0, 2), flat(0, 1, 1, 0),
                                               flat(0, 1, 1, 1), flat(0, 1, 1, 2), flat(1, 1, 0, 0), flat(1, 1, 0, 1),
                                               flat(1, 1, 0, 2), flat(1, 1, 1, 0), flat(1, 1, 1, 1), flat(1, 1, 1, 2)])
        let fshape = try GroupLayout(granularity: .fshape, shape: shape)
        #expect(fshape.indices(ofGroup: 2 * 6 + 4) == [flat(0, 2, 1, 1), flat(1, 2, 1, 1)])
        let cshape = try GroupLayout(granularity: .cshape, shape: shape)
        #expect(cshape.indices(ofGroup: 1 * 6 + 5) == [flat(1, 0, 1, 2), flat(1, 1, 1, 2), flat(1, 2, 1, 2)])
        let filter = try GroupLayout(granularity: .filter, shape: shape)
        #expect(filter.indices(ofGroup: 1) == Array(18..<36))
    }

    @Test("sub-filter groups: runs of N in each filter's order, the last one cut at the filter's end")
    func subFilterOrder() throws {
        // F = 3, C*K = 40: group16 gives 16 + 16 + 8 per filter.
        let layout = try GroupLayout(granularity: .group16, shape: [3, 10, 2, 2])
        #expect(layout.groupsPerFilter == 3 && layout.groupCount == 9 && layout.groupSize == 16)
        #expect(layout.indices(ofGroup: 0) == Array(0..<16))
        #expect(layout.indices(ofGroup: 2) == Array(32..<40))
        #expect(layout.indices(ofGroup: 4) == Array(56..<72))
        #expect(layout.size(ofGroup: 5) == 8 && layout.size(ofGroup: 7) == 16)
        #expect(layout.columns(ofGroup: 5) == Array(32..<40))
        // W[1, c = 4, k = 1]: flat 40 + 17 = 57, group 1 * 3 + 17 / 16 = 4.
        #expect(layout.group(ofFlatIndex: 57) == 4)
        let whole = try GroupLayout(granularity: .group64, shape: [2, 3, 3, 3])
        #expect(whole.groupsPerFilter == 1 && whole.size(ofGroup: 1) == 27 && whole.indices(ofGroup: 1) == Array(27..<54))
    }

    @Test("shapes that are not [F, C, kh, kw] are errors")
    func badShapes() {
        for shape in [[3, 3, 3], [0, 3, 3, 3], [2, 3, -1, 3], [1, 2, 3, 4, 5]] {
            #expect(throws: QuantError.invalidShape(shape)) {
                try GroupLayout(granularity: .layer, shape: shape)
            }
        }
    }
}
