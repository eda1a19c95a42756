import Foundation
import Testing
@testable import YOLOEval

@Suite struct DatasetTests {
    /// A dataset folder with three files in images/test (one in a subfolder, one not an image).
    func makeDataset() throws -> URL {
        let root = try Paths.temporaryFolder()
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("ds/images/test/sub"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("ds/labels/test"), withIntermediateDirectories: true)
        for name in ["b.jpg", "a.png", "sub/c.jpeg", "notes.md", ".hidden.jpg"] {
            try Data([0]).write(to: root.appendingPathComponent("ds/images/test/\(name)"))
        }
        return root
    }

    @Test func folderLayout() throws {
        let root = try makeDataset()
        defer { try? FileManager.default.removeItem(at: root) }
        let ds = root.appendingPathComponent("ds").path
        let split = try DatasetSplit.load(data: ds, split: "test")
        #expect(split.images == ["a.png", "b.jpg", "sub/c.jpeg"].map { ds + "/images/test/" + $0 })
        #expect(split.classNames == nil)
        #expect(throws: EvalError.missingSplit(data: ds, split: "val")) { try DatasetSplit.load(data: ds, split: "val") }
    }

    @Test func yamlRelativeToItsFolderOrPathKey() throws {
        let root = try makeDataset()
        defer { try? FileManager.default.removeItem(at: root) }
        let yaml = root.appendingPathComponent("ds/data.yaml")
        try "test: images/test\nval: [images/test/a.png, list.txt]\nnc: 3\nnames: ['RBC', 'WBC', 'Platelets']\n"
            .write(to: yaml, atomically: true, encoding: .utf8)
        try "./images/test/b.jpg\nimages/test/sub/c.jpeg\n".write(to: root.appendingPathComponent("ds/list.txt"),
                                                                     atomically: true, encoding: .utf8)
        let test = try DatasetSplit.load(data: yaml.path, split: "test")
        #expect(test.images.count == 3 && test.classNames == ["RBC", "WBC", "Platelets"] && test.classCount == 3)
        let val = try DatasetSplit.load(data: yaml.path, split: "val")
        #expect(val.images.map { ($0 as NSString).lastPathComponent } == ["a.png", "b.jpg", "c.jpeg"])
        #expect(throws: EvalError.missingSplit(data: yaml.path, split: "train")) {
            try DatasetSplit.load(data: yaml.path, split: "train")
        }

        let other = root.appendingPathComponent("other.yaml")
        try "path: ds\ntest: images/test\nnames: {0: a, 1: b}\n".write(to: other, atomically: true, encoding: .utf8)
        let viaPath = try DatasetSplit.load(data: other.path, split: "test")
        #expect(viaPath.images.count == 3 && viaPath.classNames == ["a", "b"])

        let bad = root.appendingPathComponent("bad.yaml")
        try "test: nowhere/images\n".write(to: bad, atomically: true, encoding: .utf8)
        #expect(throws: EvalError.self) { try DatasetSplit.load(data: bad.path, split: "test") }
        #expect(throws: EvalError.dataNotFound(path: "/nonexistent.yaml")) {
            try DatasetSplit.load(data: "/nonexistent.yaml", split: "test")
        }
    }

    @Test(.enabled(if: Paths.hasShared, Paths.sharedMissing))
    func realBCCDYaml() throws {
        let split = try DatasetSplit.load(data: Paths.bccd.appendingPathComponent("data.yaml").path, split: "test")
        #expect(split.images.count == 72)
        #expect(split.classNames == ["RBC", "WBC", "Platelets"])
        var labels = 0
        for image in split.images { labels += try LabelFile.read(path: LabelFile.path(forImage: image), classCount: 3).count }
        #expect(labels == 945)
    }
}
