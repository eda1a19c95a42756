import Foundation
import Testing
@testable import YOLOModel

/// Inputs that crashed or hung a parser (found by the fuzzers in Fuzz/, or by the hostile-input
/// measurements of docs/SECURITY.md), each kept as a fixture in Tests/Fixtures/fuzz/ (made by
/// Fuzz/make_regression_fixtures.py). Each must now be refused with one error, quickly.
private enum FuzzFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz")
    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }
}

private func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// The reason of the `invalidConfig` error that `body` throws, or nil (recorded as an issue).
private func configRefusal(_ what: String, _ body: () throws -> Void) -> String? {
    do {
        try body()
        Issue.record("\(what) was accepted")
    } catch YOLOModelError.invalidConfig(_, let reason) {
        return reason
    } catch {
        Issue.record("\(what): wrong error \(error)")
    }
    return nil
}

struct FuzzRegressionTests {
    // MARK: Model YAML (Yams composes recursively)

    /// Was a stack overflow inside Yams (`yolov7 inspect` died with SIGSEGV): the config in a
    /// weights file's metadata nested 5,000 deep.
    @Test func deeplyNestedConfigInWeightsMetadataIsRefused() throws {
        let file = try SafeTensorsFile.read(path: FuzzFixtures.path("yaml_nested_flow.safetensors"))
        var reason: String?
        let elapsed = seconds {
            reason = configRefusal("nested flow YAML") { _ = try ModelFile.configuration(of: file, configPath: nil) }
        }
        #expect(reason?.contains("nested more than \(ModelConfig.maxYAMLDepth) deep") == true, "\(reason ?? "")")
        #expect(elapsed < 1, "took \(elapsed) s")
    }

    @Test func deeplyNestedBlockConfigIsRefused() {
        let reason = configRefusal("nested block YAML") {
            _ = try ModelConfig.load(path: FuzzFixtures.path("yaml_nested_block.yaml"))
        }
        #expect(reason?.contains("nested more than") == true, "\(reason ?? "")")
    }

    /// 10^12 values through aliases: refused once the expanded tree passes the value budget.
    @Test func aliasExpansionIsBounded() {
        var reason: String?
        let elapsed = seconds {
            reason = configRefusal("billion laughs") {
                _ = try ModelConfig.load(path: FuzzFixtures.path("yaml_aliases.yaml"))
            }
        }
        #expect(reason?.contains("expands to more than") == true, "\(reason ?? "")")
        #expect(elapsed < 5, "took \(elapsed) s")
    }

    /// A chain of aliases nests deeper than the text does; the converted tree is checked too.
    @Test func aliasChainDepthIsBounded() {
        var lines = ["nc: 1", "a0: &a0 [x]"]
        for i in 1...80 { lines.append("a\(i): &a\(i) [*a\(i - 1)]") }
        let reason = configRefusal("alias chain") { _ = try ModelConfig.parse(yaml: lines.joined(separator: "\n"), origin: "chain") }
        #expect(reason?.contains("nested more than") == true, "\(reason ?? "")")
    }

    @Test func nestingLimitIsExact() {
        func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
        // At the limit the text reaches the grammar checks; one more level is refused before Yams.
        let atLimit = configRefusal("64 deep") { _ = try ModelConfig.parse(yaml: nested(ModelConfig.maxYAMLDepth), origin: "t") }
        #expect(atLimit?.contains("top level is not a mapping") == true, "\(atLimit ?? "")")
        let over = configRefusal("65 deep") { _ = try ModelConfig.parse(yaml: nested(ModelConfig.maxYAMLDepth + 1), origin: "t") }
        #expect(over?.contains("nested more than") == true, "\(over ?? "")")
        #expect(YAMLDepth.deepest("{a: [1, {b: [2]}]}", stoppingAbove: 64) == 4)
        // Syntax errors stop the scan; Yams reports them.
        #expect(YAMLDepth.deepest("[[[", stoppingAbove: 64) == 3)
    }

    // MARK: Graph arithmetic (Sources/YOLOModel/Graph: not fixed here, reported)

    /// Configs whose channel or feature-map arithmetic overflows Int while the graph is built:
    /// today a trap (SIGILL), e.g. `yolov7 inspect Tests/Fixtures/fuzz/graph_reorg_overflow.safetensors`.
    /// Chained ReOrg / Concat / Upsample rows are refused with an error, not an overflow trap.
    @Test(arguments: ["graph_reorg_overflow.yaml", "graph_concat_overflow.yaml", "graph_upsample_overflow.yaml"])
    func graphArithmeticOverflowIsRefused(file: String) throws {
        let config = try ModelConfig.load(path: FuzzFixtures.path(file))
        let reason = configRefusal(file) { _ = try ModelBuilder.build(config: config, weights: RandomTensorSource()) }
        #expect(reason != nil)
    }

    @Test func oversizedConfigTextIsRefusedUnread() {
        let text = "nc: 1\n#" + String(repeating: "x", count: ModelConfig.maxYAMLBytes)
        let reason = configRefusal("huge YAML") { _ = try ModelConfig.parse(yaml: text, origin: "t") }
        #expect(reason?.contains("exceeds the \(ModelConfig.maxYAMLBytes)-byte limit") == true, "\(reason ?? "")")
    }
}
