import Foundation

/// One object of a YOLO label file: class id and box centre, width and height, normalised to
/// the image (0...1), as float32 like the official loader's arrays.
public struct GroundTruth: Equatable, Sendable {
    public var classID: Int
    public var cx: Float
    public var cy: Float
    public var w: Float
    public var h: Float

    public init(classID: Int, cx: Float, cy: Float, w: Float, h: Float) {
        self.classID = classID
        self.cx = cx
        self.cy = cy
        self.w = w
        self.h = h
    }
}

/// YOLO label files (`class cx cy w h` per line, normalised), read as the official
/// `LoadImagesAndLabels.cache_labels` reads them.
public enum LabelFile {
    /// Official `img2label_paths`: the first `/images/` becomes `/labels/`, the extension `.txt`.
    public static func path(forImage imagePath: String) -> String {
        var path = imagePath
        if let range = path.range(of: "/images/") {
            path.replaceSubrange(range, with: "/labels/")
        }
        // The official code replaces the last occurrence of the text after the path's last dot.
        if let dot = path.lastIndex(of: ".") {
            path = String(path[..<dot]) + ".txt"
        } else {
            path += ".txt"
        }
        return path
    }

    /// The labels of `path`; a missing file means an image without objects. `classCount`, when
    /// given, bounds the class ids.
    public static func read(path: String, classCount: Int? = nil) throws -> [GroundTruth] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw EvalError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EvalError.malformedLabel(path: path, line: 1, reason: "not UTF-8 text")
        }
        return try parse(text, path: path, classCount: classCount)
    }

    /// Parses label text. Blank lines are skipped. Lines that are not numbers in the right
    /// count throw `malformedLabel` naming the line; what the official loader asserts
    /// (no negative value, coordinates <= 1, no duplicate rows) throws `rejectedLabels`, which
    /// the eval runner turns into "image ignored" as test.py does. When any line has more than
    /// 8 values the file holds polygons (`class x1 y1 x2 y2 ...`), and every line becomes the
    /// box around its points (official `segments2boxes`).
    public static func parse(_ text: String, path: String, classCount: Int? = nil) throws -> [GroundTruth] {
        var rows: [(line: Int, values: [Float])] = []
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard !fields.isEmpty else { continue }
            var values: [Float] = []
            for field in fields {
                // As numpy: the text parsed as a double, then rounded to float32.
                guard let v = Double(field), v.isFinite else {
                    throw EvalError.malformedLabel(path: path, line: index + 1, reason: "'\(field)' is not a finite number")
                }
                values.append(Float(v))
            }
            rows.append((index + 1, values))
        }
        let polygons = rows.contains { $0.values.count > 8 }

        var boxes: [GroundTruth] = []
        var seen = Set<[Float]>()
        var duplicate = false, negative = false, outside = false
        for (line, values) in rows {
            let cls = values[0]
            guard cls == cls.rounded(), abs(cls) < 1_000_000 else {
                throw EvalError.malformedLabel(path: path, line: line, reason: "class \(fieldText(cls)) is not a class id")
            }
            var row: [Float]
            if polygons {
                let points = values.dropFirst()
                guard points.count >= 2, points.count % 2 == 0 else {
                    throw EvalError.malformedLabel(path: path, line: line,
                                                   reason: "a polygon needs x y pairs, got \(points.count) values")
                }
                let xs = stride(from: points.startIndex, to: points.endIndex, by: 2).map { points[$0] }
                let ys = stride(from: points.startIndex + 1, to: points.endIndex, by: 2).map { points[$0] }
                let x1 = xs.min()!, x2 = xs.max()!, y1 = ys.min()!, y2 = ys.max()!
                row = [cls, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
            } else {
                guard values.count == 5 else {
                    throw EvalError.malformedLabel(path: path, line: line,
                                                   reason: "expected 5 values 'class cx cy w h', got \(values.count)")
                }
                row = values
            }
            if row.contains(where: { $0 < 0 }) { negative = true }
            if row.dropFirst().contains(where: { $0 > 1 }) { outside = true }
            if !seen.insert(row).inserted { duplicate = true }
            if let classCount, cls >= 0, Int(cls) >= classCount {
                throw EvalError.classOutOfRange(path: path, line: line, classID: Int(cls), classCount: classCount)
            }
            boxes.append(GroundTruth(classID: Int(cls), cx: row[1], cy: row[2], w: row[3], h: row[4]))
        }
        // The official asserts, in the official order.
        if negative { throw EvalError.rejectedLabels(path: path, reason: "negative labels") }
        if outside { throw EvalError.rejectedLabels(path: path, reason: "non-normalized or out of bounds coordinate labels") }
        if duplicate { throw EvalError.rejectedLabels(path: path, reason: "duplicate labels") }
        return boxes
    }

    static func fieldText(_ v: Float) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
    }
}
