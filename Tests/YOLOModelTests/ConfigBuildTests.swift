import Foundation
import Testing
@testable import YOLOModel
import YOLOTensor

struct ConfigBuildTests {
    /// Every official config builds with random weights, and a real 320x320 forward gives the
    /// official Model's output shape (rows320.json, made by tools/make_model_fixtures.py).
    @Test(arguments: Fixtures.configNames)
    func officialConfigBuilds(name: String) throws {
        let config = try ModelConfig.load(path: Fixtures.configPath(name))
        let model = try ModelBuilder.build(config: config, weights: RandomTensorSource(seed: 1))
        let shapes = try model.shapes(for: FeatureShape(batch: 1, channels: 3, height: 320, width: 320))
        let rows = shapes.last!.height
        let expected = try #require(try Fixtures.json("model/rows320.json") as? [[String: Any]])
        let entry = try #require(expected.first { ($0["cfg"] as? String) == "cfg/\(name).yaml" }, "no entry for \(name)")
        #expect(model.detect.strides == (entry["stride"] as? [Int])?.map(Float.init))
        #expect(rows == entry["rows"] as? Int)
        let out = model.forward(Tensor(shape: [1, 3, 320, 320], repeating: 0.5))
        #expect(out.shape == [1, entry["rows"] as? Int ?? -1, entry["cols"] as? Int ?? -1])
        #expect(out.data.allSatisfy { $0.isFinite })
        #expect(config.nc + 5 == entry["cols"] as? Int)
        if let params = entry["params"] as? Int {
            // Folded parameter count is smaller than the training count (BN, RepConv branches,
            // implicit and IAuxDetect aux convs are gone): only check it is in range.
            #expect(model.parameterCount <= params && model.parameterCount > params / 2)
        }
    }

    @Test func unknownModuleIsRefused() throws {
        let yaml = """
        nc: 2
        anchors: [[10,13, 16,30, 33,23]]
        backbone: [[-1, 1, Conv, [16, 3, 2]], [-1, 1, Frobnicate, [3]]]
        head: [[[1], 1, Detect, [nc, anchors]]]
        """
        let config = try ModelConfig.parse(yaml: yaml, origin: "bad.yaml")
        #expect(throws: YOLOModelError.invalidConfig(source: "bad.yaml", reason: "layer 1: unknown module 'Frobnicate'")) {
            try ModelBuilder.build(config: config, weights: RandomTensorSource())
        }
    }

    @Test func badFromIndexIsRefused() throws {
        let yaml = """
        nc: 2
        anchors: [[10,13, 16,30, 33,23]]
        backbone: [[-1, 1, Conv, [16, 3, 2]], [5, 1, Conv, [16, 3, 2]]]
        head: [[[1], 1, Detect, [nc, anchors]]]
        """
        let config = try ModelConfig.parse(yaml: yaml, origin: "bad.yaml")
        #expect(throws: YOLOModelError.self) { try ModelBuilder.build(config: config, weights: RandomTensorSource()) }
        do {
            _ = try ModelBuilder.build(config: config, weights: RandomTensorSource())
        } catch {
            #expect("\(error)" == "bad.yaml: invalid model config: layer 1: 'from' index 5 does not name an earlier layer")
        }
    }

    @Test func malformedYAMLIsRefused() {
        #expect(throws: YOLOModelError.self) { try ModelConfig.parse(yaml: "nc: [", origin: "x.yaml") }
        #expect(throws: YOLOModelError.self) { try ModelConfig.parse(yaml: "nc: 3\nanchors: 5", origin: "x.yaml") }
        #expect(throws: YOLOModelError.self) {
            try ModelConfig.parse(yaml: "nc: 3\nanchors: [[1,2]]\nbackbone: [[-1, 1, Conv]]\nhead: []", origin: "x.yaml")
        }
    }

    /// Shape mismatches between layers are found at build time, not as a crash at run time.
    @Test func concatOfDifferentSizesIsRefused() throws {
        let yaml = """
        nc: 1
        anchors: [[10,13]]
        backbone: [[-1, 1, Conv, [8, 3, 2]], [-1, 1, Conv, [8, 3, 2]], [[-1, -2], 1, Concat, [1]]]
        head: [[[2], 1, Detect, [nc, anchors]]]
        """
        let config = try ModelConfig.parse(yaml: yaml, origin: "cat.yaml")
        #expect(throws: YOLOModelError.self) { try ModelBuilder.build(config: config, weights: RandomTensorSource()) }
    }

    @Test func yamlRoundTripsThroughMetadataText() throws {
        let config = try ModelConfig.load(path: Fixtures.configPath("training/yolov7-tiny"))
        let again = try ModelConfig.parse(yaml: config.yamlText, origin: "metadata")
        #expect(again.rows == config.rows)
        #expect(again.anchors == config.anchors)
        #expect(again.nc == config.nc)
    }
}
