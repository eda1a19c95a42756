import Foundation
import YOLOv7

/// The models a server holds, by name, loaded once at start-up (ready when all are) and never
/// changed after.
final class ModelRegistry: @unchecked Sendable {
    /// What `GET /v1/models` lists about one model.
    struct Info: Codable, Sendable {
        let name: String
        let path: String
        let classes: [String]
        let img: Int
        let precision: String
        let load_seconds: Double
        let weight_bytes: Int
    }

    private let lock = NSLock()
    private var detectors: [String: Detector] = [:]
    private var infos: [Info] = []
    /// The model a request without `model=` gets: the first given.
    let defaultName: String
    let specs: [ServerConfiguration.ModelSpec]

    init(specs: [ServerConfiguration.ModelSpec]) {
        self.specs = specs
        defaultName = specs.first?.name ?? ""
    }

    var isReady: Bool { lock.withLock { detectors.count == specs.count && !specs.isEmpty } }

    func detector(named name: String) -> Detector? { lock.withLock { detectors[name] } }

    var names: [String] { specs.map(\.name) }

    var models: [Info] { lock.withLock { infos } }

    /// Loads every model in order (each on this thread: call it from a dispatch thread).
    func loadAll(options: Detector.Options, calibration: Int8Calibration?,
                 loaded: (Info) -> Void) throws {
        for spec in specs {
            let start = DispatchTime.now().uptimeNanoseconds
            let detector = try Detector(contentsOf: URL(fileURLWithPath: spec.path), options: options, calibration: calibration)
            let info = Info(name: spec.name, path: spec.path, classes: detector.classNames, img: detector.inputSize,
                            precision: options.precision.rawValue,
                            load_seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
                            weight_bytes: detector.weightBytes)
            lock.withLock {
                detectors[spec.name] = detector
                infos.append(info)
            }
            loaded(info)
        }
    }
}
