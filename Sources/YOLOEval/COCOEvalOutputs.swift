import Foundation

/// What `eval --coco-json F --coco-annotations A.json` adds to a run: the COCO results file
/// official `test.py --save-json` writes, and the 12 COCO metrics against an annotation file.
/// Everything that can be checked without running the model is checked when this is made,
/// so bad input fails before any inference.
public struct COCOEvalOutputs: Sendable {
    public var resultsPath: String?
    public var annotations: COCOAnnotations?
    public var categories: COCOResults.Categories

    /// Reads and checks `annotationsPath` against the split's images (every image an
    /// annotation names is in the split, every image of the split is annotated, ids as test.py
    /// makes them from file names) and the model's `classCount` classes.
    public init(resultsPath: String?, annotationsPath: String?, split: DatasetSplit, dataPath: String,
                classCount: Int) throws {
        self.resultsPath = resultsPath
        categories = COCOResults.Categories(dataPath: dataPath)
        guard let annotationsPath else { return }
        let annotations = try COCOAnnotations.load(path: annotationsPath)
        try annotations.checkImages(split.images, source: "\(split.source) '\(split.split)'")
        let ids = categories.ids(classCount: classCount)
        let described = categories == .classIndex
            ? "the model's \(classCount) class ids (0...\(classCount - 1))"
            : "the 91-category COCO ids of the model's \(classCount) classes"
        try annotations.checkCategories(ids, modelDescription: described)
        self.annotations = annotations
    }

    /// Writes the results file (when asked) and returns the metrics (when annotations were given).
    public func finish(_ result: EvalResult) throws -> COCOMetrics? {
        let records = COCOResults.records(result.images, categories: categories)
        if let resultsPath { try COCOResults.write(records, to: resultsPath) }
        guard let annotations else { return nil }
        return try COCOEvaluator(annotations: annotations).evaluate(records, resultsPath: resultsPath ?? "results")
    }
}
