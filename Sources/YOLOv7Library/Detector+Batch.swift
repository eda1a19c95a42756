import Foundation
import YOLOVision

extension Detector {
    /// One file's outcome in a batch.
    public struct FileResult: Sendable {
        /// Its position in the list given.
        public let index: Int
        public let url: URL
        /// Its detections, or why it could not be read or decoded.
        public let result: Result<ImageDetections, Error>
        /// The decoded pixels (to draw on), when decoding succeeded.
        public let image: RGBImage?
        /// Decode to boxes, in seconds.
        public let seconds: Double
    }

    /// Objects in each of `images`, several at a time (``Options/maxConcurrentCalls``): for
    /// several images, single-threaded kernels in each call keep the cores busiest.
    public func detect(_ images: [RGBImage]) -> [[Detection]] {
        var results = [[Detection]](repeating: [], count: images.count)
        let lock = NSLock()
        forEachIndex(images.count, concurrency: nil) { i in
            let found = detect(images[i])
            lock.withLock { results[i] = found }
        }
        return results
    }

    /// Objects in each file, `concurrency` files at a time (nil: ``Options/maxConcurrentCalls``),
    /// in the order given. A file that cannot be read or decoded gets its error; the rest still run.
    public func detect(contentsOf urls: [URL], concurrency: Int? = nil) -> [Result<ImageDetections, Error>] {
        var results = [Result<ImageDetections, Error>?](repeating: nil, count: urls.count)
        let lock = NSLock()
        detect(contentsOf: urls, concurrency: concurrency) { file in
            lock.withLock { results[file.index] = file.result }
        }
        return results.map { $0! }
    }

    /// The same, handing each file's outcome to `each` as soon as it is ready, on the thread
    /// that ran it (in any order; several at once). The image is named by its path as given.
    public func detect(contentsOf urls: [URL], concurrency: Int? = nil, each: (FileResult) -> Void) {
        forEachIndex(urls.count, concurrency: concurrency) { i in
            let url = urls[i]
            let start = DispatchTime.now().uptimeNanoseconds
            var image: RGBImage?
            let result = Result { () throws -> ImageDetections in
                let decoded = try decode(url)
                image = decoded
                return ImageDetections(image: url.isFileURL ? url.relativePath : url.absoluteString,
                                       width: decoded.width, height: decoded.height, detections: detect(decoded))
            }
            each(FileResult(index: i, url: url, result: result, image: image,
                            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
    }

    /// Runs `body(i)` for i in 0..<count on up to `concurrency` threads, each taking the next
    /// index as it finishes one.
    private func forEachIndex(_ count: Int, concurrency: Int?, _ body: (Int) -> Void) {
        let width = min(count, concurrency ?? options.maxConcurrentCalls ?? ProcessInfo.processInfo.activeProcessorCount)
        guard width > 1 else {
            for i in 0..<count { body(i) }
            return
        }
        let lock = NSLock()
        var next = 0
        DispatchQueue.concurrentPerform(iterations: width) { _ in
            while true {
                let i: Int = lock.withLock {
                    defer { next += 1 }
                    return next
                }
                guard i < count else { return }
                body(i)
            }
        }
    }
}
