import Foundation
import YOLOVision

/// The `async` forms: the same work, run on a dispatch thread so that a task awaiting it never
/// blocks Swift concurrency's cooperative threads with seconds of computation.
extension Detector {
    public func detect(_ image: RGBImage) async -> [Detection] {
        await offload { self.detect(image) }
    }

    public func detect(contentsOf url: URL) async throws -> [Detection] {
        try await offloadThrowing { try self.detect(contentsOf: url) }
    }

    public func detect(encoded data: Data, name: String = "image") async throws -> [Detection] {
        try await offloadThrowing { try self.detect(encoded: data, name: name) }
    }

    public func detect(_ images: [RGBImage]) async -> [[Detection]] {
        await offload { self.detect(images) }
    }

    public func detect(contentsOf urls: [URL], concurrency: Int? = nil) async -> [Result<ImageDetections, Error>] {
        await offload { self.detect(contentsOf: urls, concurrency: concurrency) }
    }

    private func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
    }

    private func offloadThrowing<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(with: Result { try work() }) }
        }
    }
}
