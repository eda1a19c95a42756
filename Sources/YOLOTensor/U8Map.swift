import CVectorMath

/// The shape of a u8 activation map, the one layout of the int8 graph (CVectorMathInt8.h):
/// channels in groups of 4, each group a plane of 32-bit words (the 4 channels' u8 codes at one
/// pixel), each plane the H x W pixels inside a one-word border that holds the map's zero point.
public struct U8MapLayout: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let channels: Int
    public let height: Int
    public let width: Int

    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    public init(_ shape: FeatureShape) { self.init(channels: shape.channels, height: shape.height, width: shape.width) }

    public var groups: Int { (channels + 3) / 4 }
    public var paddedWidth: Int { width + 2 }
    public var paddedHeight: Int { height + 2 }
    /// Words from one group's plane to the next: the padded plane, rounded up to 64 bytes.
    public var groupStride: Int { (paddedHeight * paddedWidth + 15) / 16 * 16 }
    /// Words of one batch item.
    public var words: Int { groups * groupStride }
    /// The virtual columns of the interior rows (what a product computes): rows 1...H of a plane.
    public var interiorColumns: Range<Int> { paddedWidth..<((height + 1) * paddedWidth) }

    public var description: String { "u8 \(channels)x\(height)x\(width)" }

    /// Words an arena region must hold for `batch` items of this layout, with `guardWords` on
    /// either side (`U8View.guardWords`).
    public func regionWords(batch: Int) -> Int { batch * words + 2 * U8View.guardWords }
}

/// A u8 map (or a channel-group slice of one, a concat's part) in a workspace's arena, whose
/// 4-byte elements hold the words.
public struct U8View: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Products read a word before a plane's first word and after its last for the border
    /// columns they compute and drop: every map's region keeps this many words free on either
    /// side, so such reads stay inside the arena.
    public static let guardWords = 16

    /// Arena offset (in 4-byte elements) of group 0's plane of item 0.
    public var offset: Int
    public var layout: U8MapLayout
    public var batch: Int
    /// Elements between batch items (the whole map's, for a slice).
    public var batchStride: Int

    public init(offset: Int, layout: U8MapLayout, batch: Int = 1, batchStride: Int? = nil) {
        self.offset = offset
        self.layout = layout
        self.batch = batch
        self.batchStride = batchStride ?? layout.words
    }

    /// The view of a region that starts at `regionOffset` (guard words first).
    public init(region regionOffset: Int, layout: U8MapLayout, batch: Int = 1) {
        self.init(offset: regionOffset + Self.guardWords, layout: layout, batch: batch)
    }

    /// Channels `[start, start + count)`: whole groups, so `start` must be a multiple of 4.
    public func channels(_ start: Int, _ count: Int) -> U8View {
        precondition(start % 4 == 0 && start + count <= layout.channels, "u8 view: channels \(start)+\(count) of \(layout)")
        return U8View(offset: offset + start / 4 * layout.groupStride,
                      layout: U8MapLayout(channels: count, height: layout.height, width: layout.width),
                      batch: batch, batchStride: batchStride)
    }

    public var description: String { "arena@\(offset) \(layout)" }
}

extension ActivationQuantization {
    /// The zero point in all four bytes: the word of a border pixel.
    public var zeroWord: UInt32 { UInt32(truncatingIfNeeded: zero) &* 0x0101_0101 }
}

/// The int8 graph's work on u8 maps besides the product (CVectorMath/Int8Maps.c), split over
/// workers by channel group, and plain Swift references for the tests.
public enum U8MapKernels {
    /// Groups a task takes: about this many words each, so small maps stay on one thread.
    static let wordsPerTask = 32 << 10

    static func groupTasks(_ layout: U8MapLayout, workers: Int, perGroupWords: Int? = nil) -> (tasks: Int, groups: Int) {
        let per = max(1, perGroupWords ?? layout.groupStride)
        let groupsPerTask = max(1, min(layout.groups, wordsPerTask / per))
        let tasks = (layout.groups + groupsPerTask - 1) / groupsPerTask
        return (workers <= 1 ? 1 : tasks, workers <= 1 ? layout.groups : groupsPerTask)
    }

    /// Runs `body(groups)` over the channel groups of `layout` in parallel tasks.
    static func forEachGroups(_ layout: U8MapLayout, workers: Int, perGroupWords: Int? = nil,
                              _ body: (Range<Int>) -> Void) {
        let (tasks, per) = groupTasks(layout, workers: workers, perGroupWords: perGroupWords)
        Parallel.forEachTask(tasks, workers: workers) { _, t in
            body((t * per)..<min(layout.groups, (t + 1) * per))
        }
    }

    /// FP32 NCHW `input` (its batch item n) quantized on `grid` into the u8 map `output`.
    public static func quantize(_ ws: inout Workspace, input: FeatureView, output: U8View, grid: ActivationQuantization,
                                workers: Int? = nil) {
        let l = output.layout
        precondition(input.shape.channels == l.channels && input.shape.height == l.height && input.shape.width == l.width,
                     "quantize: \(input) into \(output)")
        let w = workers ?? ws.threadCount
        precondition(input.shape.batch == output.batch, "quantize: batch")
        ws.withWordBases { floats, words in
            for n in 0..<input.shape.batch {
                let x = floats.source(input, item: n)
                let y = words + output.offset + n * output.batchStride
                // The network input is one group of 3 channels: split it by rows instead.
                let rowsPerTask = l.groups == 1 ? max(1, wordsPerTask / max(1, l.paddedWidth)) : l.height
                let rowTasks = (l.height + rowsPerTask - 1) / rowsPerTask
                if l.groups == 1 {
                    Parallel.forEachTask(w <= 1 ? 1 : rowTasks, workers: w) { _, t in
                        let rows = w <= 1 ? 0..<l.height : (t * rowsPerTask)..<min(l.height, (t + 1) * rowsPerTask)
                        cvm_q8_quantize(x, l.channels, l.height, l.width, rows.lowerBound, rows.upperBound,
                                        grid.inverse, grid.zero, 0, 1, y, l.groupStride)
                    }
                } else {
                    forEachGroups(l, workers: w) { gs in
                        cvm_q8_quantize(x, l.channels, l.height, l.width, 0, l.height, grid.inverse, grid.zero,
                                        gs.lowerBound, gs.upperBound, y, l.groupStride)
                    }
                }
            }
        }
    }

    /// The u8 map `input` back to FP32 NCHW `output`: `scale * (u - zero)`.
    public static func dequantize(_ ws: inout Workspace, input: U8View, grid: ActivationQuantization, output: FeatureView,
                                  workers: Int? = nil) {
        let l = input.layout
        precondition(output.shape.channels == l.channels && output.shape.height == l.height && output.shape.width == l.width
                     && output.storage == .arena, "dequantize: \(input) into \(output)")
        ws.withWordBases { floats, words in
            for n in 0..<output.shape.batch {
                let x = UnsafePointer(words + input.offset + n * input.batchStride)
                let y = floats.destination(output, item: n)
                forEachGroups(l, workers: workers ?? 1) { gs in
                    cvm_q8_dequantize(x, l.groupStride, l.channels, l.height, l.width, grid.scale, grid.zero,
                                      gs.lowerBound, gs.upperBound, y)
                }
            }
        }
    }

    public enum Pool: Equatable, Sendable {
        /// 2x2, stride 2 (MP).
        case halve
        /// Stride 1, kernel 2r + 1, padding r (SP).
        case same(radius: Int)
    }

    /// Max pool of a u8 map into another on the same grid (`zeroWord` its border).
    public static func maxPool(_ ws: inout Workspace, input: U8View, output: U8View, pool: Pool, zeroWord: UInt32,
                               workers: Int? = nil) {
        let l = input.layout, o = output.layout
        switch pool {
        case .halve: precondition(o.height == l.height / 2 && o.width == l.width / 2 && o.channels == l.channels)
        case .same: precondition(o == l)
        }
        let w = workers ?? ws.threadCount
        ws.withWordBases { _, words in
            for n in 0..<input.batch {
                let x = UnsafePointer(words + input.offset + n * input.batchStride)
                let y = words + output.offset + n * output.batchStride
                forEachGroups(l, workers: w) { gs in
                    switch pool {
                    case .halve:
                        cvm_q8_maxpool2x2(x, l.groupStride, l.height, l.width, gs.lowerBound, gs.upperBound, zeroWord,
                                          y, o.groupStride)
                    case .same(let r):
                        cvm_q8_maxpool_same(x, l.groupStride, l.height, l.width, r, gs.lowerBound, gs.upperBound,
                                            zeroWord, y, o.groupStride)
                    }
                }
            }
        }
    }

    /// Nearest upsampling by 2 of a u8 map into another on the same grid.
    public static func upsample2x(_ ws: inout Workspace, input: U8View, output: U8View, zeroWord: UInt32,
                                  workers: Int? = nil) {
        let l = input.layout, o = output.layout
        precondition(o.height == 2 * l.height && o.width == 2 * l.width && o.channels == l.channels)
        let w = workers ?? ws.threadCount
        ws.withWordBases { _, words in
            for n in 0..<input.batch {
                let x = UnsafePointer(words + input.offset + n * input.batchStride)
                let y = words + output.offset + n * output.batchStride
                forEachGroups(l, workers: w, perGroupWords: 4 * l.groupStride) { gs in
                    cvm_q8_upsample2x(x, l.groupStride, l.height, l.width, gs.lowerBound, gs.upperBound, zeroWord,
                                      y, o.groupStride)
                }
            }
        }
    }

    /// Copies whole group planes of one map into another of the same shape (a concat's part that
    /// its producer could not write in place).
    public static func copy(_ ws: inout Workspace, from input: U8View, to output: U8View) {
        precondition(input.layout == output.layout, "copy: \(input) into \(output)")
        let words = input.layout.words
        for n in 0..<input.batch {
            let from = input.offset + n * input.batchStride, to = output.offset + n * output.batchStride
            ws.arena.withUnsafeMutableBufferPointer { a in
                (a.baseAddress! + to).update(from: a.baseAddress! + from, count: words)
            }
        }
    }

    // MARK: references (plain Swift, for tests)

    /// A u8 map as plain codes `[n][c][y][x]` (border dropped): what the kernels must produce.
    public static func codes(_ ws: Workspace, _ v: U8View) -> [UInt8] {
        let l = v.layout, batch = v.batch
        var out = [UInt8](repeating: 0, count: batch * l.channels * l.height * l.width)
        ws.arena.withUnsafeBufferPointer { a in
            let words = UnsafeRawPointer(a.baseAddress!).assumingMemoryBound(to: UInt32.self)
            for n in 0..<batch {
                for c in 0..<l.channels {
                    for y in 0..<l.height {
                        for x in 0..<l.width {
                            let w = words[v.offset + n * v.batchStride + c / 4 * l.groupStride + (y + 1) * l.paddedWidth + x + 1]
                            out[((n * l.channels + c) * l.height + y) * l.width + x] = UInt8((w >> (8 * UInt32(c % 4))) & 255)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Whether every border word of every group plane of `v` is `zeroWord` (a map is only
    /// complete with its border).
    public static func borderHolds(_ ws: Workspace, _ v: U8View, zeroWord: UInt32) -> Bool {
        let l = v.layout, batch = v.batch
        return ws.arena.withUnsafeBufferPointer { a in
            let words = UnsafeRawPointer(a.baseAddress!).assumingMemoryBound(to: UInt32.self)
            for n in 0..<batch {
                for g in 0..<l.groups {
                    let p = words + v.offset + n * v.batchStride + g * l.groupStride
                    for y in 0..<l.paddedHeight {
                        for x in 0..<l.paddedWidth where y == 0 || y == l.paddedHeight - 1 || x == 0 || x == l.paddedWidth - 1 {
                            if p[y * l.paddedWidth + x] != zeroWord { return false }
                        }
                    }
                }
            }
            return true
        }
    }
}

extension Workspace {
    /// Base pointers for one kernel call over u8 maps: the FP32 views' pointers (input and
    /// arena) and the arena as words.
    @inline(__always)
    mutating func withWordBases<R>(_ body: (_ floats: ViewPointers, _ words: UnsafeMutablePointer<UInt32>) -> R) -> R {
        withBases { input, arena in
            body(ViewPointers(input: input, arena: arena), UnsafeMutableRawPointer(arena!).assumingMemoryBound(to: UInt32.self))
        }
    }

    /// The same with the scratch's base too (reserve it first).
    @inline(__always)
    mutating func withWordBases<R>(_ body: (_ floats: ViewPointers, _ words: UnsafeMutablePointer<UInt32>,
                                            _ scratch: UnsafeMutableRawPointer) -> R) -> R {
        arena.withUnsafeMutableBufferPointer { a in
            input.withUnsafeBufferPointer { i in
                scratch.withUnsafeMutableBytes { s in
                    body(ViewPointers(input: i.baseAddress, arena: a.baseAddress),
                         UnsafeMutableRawPointer(a.baseAddress!).assumingMemoryBound(to: UInt32.self), s.baseAddress!)
                }
            }
        }
    }
}
