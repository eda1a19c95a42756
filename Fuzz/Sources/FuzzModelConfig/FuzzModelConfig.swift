import Foundation
import FuzzSupport
import YOLOModel
import YOLOTensor

// Input: model YAML text. Parses it (Yams, then the `[from, number, module, args]` grammar),
// builds the graph with random weights, and runs a forward pass at 64 x 64.
//
// Random weights are made for whatever channel counts the text asks for, so the harness caps
// them (a real weights file bounds them by its size); building past the cap is refused here,
// not a finding.

struct CappedRandomWeights: TensorSource {
    final class Budget { var floats = 1 << 20 }
    let random = RandomTensorSource(seed: 1)
    let budget = Budget()
    var origin: String { random.origin }

    func contains(_ name: String) -> Bool { random.contains(name) }

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        var count = 1
        for d in shape {
            guard d >= 0 else { throw YOLOModelError.invalidConfig(source: origin, reason: "negative dimension") }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw YOLOModelError.invalidConfig(source: origin, reason: "shape overflows") }
            count = p
        }
        budget.floats -= count
        guard budget.floats >= 0 else { throw YOLOModelError.invalidConfig(source: origin, reason: "over the fuzzing weight budget") }
        return try random.tensor(name, shape: shape)
    }
}

let input = FeatureShape(batch: 1, channels: 3, height: 64, width: 64)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let config = try? ModelConfig.parse(yaml: text, origin: "fuzz.yaml"),
          let model = try? ModelBuilder.build(config: config, weights: CappedRandomWeights()) else {
        return 0
    }
    _ = config.yamlText
    // Activations are not weights: a config may ask for a huge map at 64 x 64 (upsampling), so
    // the forward pass runs only when its buffers stay small.
    guard (try? model.shapes(for: input)) != nil, model.arenaFloats(for: input) <= 1 << 24 else { return 0 }
    let image = Tensor(shape: [1, 3, 64, 64], repeating: 0.5)
    _ = model.forward(image)
    return 0
}

// SwiftPM links executables with `main=FuzzModelConfig_main`.
@_cdecl("FuzzModelConfig_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
