import ArgumentParser
import Foundation
import YOLOModel
import YOLOQuant
import YOLOTensor
import YOLOVision

struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Write the raw pre-NMS prediction tensor [rows, 5+nc] for one image as .npy (the parity hook).")

    @Option(help: "Weights: .pt checkpoint or .safetensors.")
    var weights: String

    @Option(name: .customLong("cfg"), help: "Model YAML (needed for a bare state dict).")
    var cfg: String?

    @Option(help: "Inference size in pixels (letterboxed as detect does).")
    var img = 640

    @Argument(help: "A JPEG or PNG image, or with --letterboxed a uint8 [H,W,3] RGB .npy already letterboxed.")
    var image: String

    @Flag(help: "IMAGE is an already letterboxed uint8 RGB .npy array (skips decoding and letterbox).")
    var letterboxed = false

    @Option(help: "Output .npy path.")
    var out: String

    func run() throws {
        try runReportingErrors {
            let model = try ModelLoader.load(path: weights, configPath: cfg)
            let input: Tensor
            if letterboxed {
                input = try hwcToNCHW(NPY.read(URL(fileURLWithPath: image)), path: image)
            } else {
                let picture = try RGBImage(contentsOf: URL(fileURLWithPath: image))
                input = Letterbox(detect: picture, size: img, stride: model.maxStride).tensor()
            }
            let s = input.featureShape
            guard s.height % model.maxStride == 0, s.width % model.maxStride == 0 else {
                throw ValidationError("\(image): \(s.height)x\(s.width) is not a multiple of the model stride \(model.maxStride)")
            }
            let pred = model.forward(input)
            try NPY.write(pred.reshaped([pred.shape[1], pred.shape[2]]), to: URL(fileURLWithPath: out))
            print("wrote \(out): [\(pred.shape[1]), \(pred.shape[2])] for input \(s.height)x\(s.width)")
        }
    }

    /// uint8 [H, W, 3] RGB -> float [1, 3, H, W] / 255, as the official scripts feed the model.
    func hwcToNCHW(_ t: Tensor, path: String) throws -> Tensor {
        guard t.rank == 3, t.shape[2] == 3 else { throw ValidationError("\(path): expected a [H, W, 3] array, got \(t.shape)") }
        let h = t.shape[0], w = t.shape[1]
        var out = [Float](repeating: 0, count: 3 * h * w)
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<3 { out[(c * h + y) * w + x] = t.data[(y * w + x) * 3 + c] / 255 }
            }
        }
        return Tensor(shape: [1, 3, h, w], data: out)
    }
}
