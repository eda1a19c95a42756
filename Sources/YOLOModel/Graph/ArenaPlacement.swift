/// Addresses in one arena for buffers that live over known stretches of a pass: buffers whose
/// lifetimes overlap never share memory, the others may. Greedy, largest first, each at the
/// lowest offset clear of every placed buffer it overlaps in time: the arena comes out about
/// the widest cut of the graph rather than the sum of its buffers.
enum ArenaPlacement {
    struct Buffer {
        var size: Int
        /// First and last step (inclusive) that touch it.
        var first: Int
        var last: Int
        var offset = 0

        init(size: Int, first: Int, last: Int) {
            self.size = size
            self.first = first
            self.last = last
        }
    }

    /// Each buffer's offset, and the arena size.
    static func place(_ buffers: [Buffer]) -> (offsets: [Int], end: Int) {
        var offsets = [Int](repeating: 0, count: buffers.count)
        var placed: [Int] = []
        var end = 0
        for b in buffers.indices.sorted(by: { (buffers[$0].size, buffers[$1].first) > (buffers[$1].size, buffers[$0].first) }) {
            let live = placed.filter { buffers[$0].first <= buffers[b].last && buffers[b].first <= buffers[$0].last }
                .map { (offsets[$0], offsets[$0] + buffers[$0].size) }.sorted { $0.0 < $1.0 }
            var offset = 0
            for (lo, hi) in live {
                if offset + buffers[b].size <= lo { break }
                offset = max(offset, hi)
            }
            offsets[b] = offset
            placed.append(b)
            end = max(end, offset + buffers[b].size)
        }
        return (offsets, end)
    }
}
