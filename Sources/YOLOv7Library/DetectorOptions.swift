import YOLOEval
import YOLOTensor
import YOLOVision

extension Detector {
    /// How images are prepared for the network.
    public enum Preprocessing: String, Sendable, Codable, CaseIterable {
        /// Official detect.py: scaled to fit a square of `imageSize` (INTER_LINEAR), padded with
        /// grey to the smallest multiple of the stride.
        case detect
        /// Official test.py with `--batch-size 1` (DESIGN section 5): the long side resized to
        /// `imageSize` (INTER_AREA when shrinking), letterboxed to the image's own rectangle.
        case evaluation
    }

    /// The arithmetic of the convolutions' activations.
    public enum Precision: String, Sendable, Codable, CaseIterable {
        /// Float32 throughout.
        case fp32
        /// u8 activation maps end to end with 8-bit (or packed 4-bit / integer-grid) integer
        /// weights, on any CPU (fastest with AVX-512 VNNI or AVX-VNNI); the activation ranges come
        /// from the weights file or from calibration images (``Int8Calibration``).
        case int8
    }

    /// Everything that decides what a ``Detector`` returns and how it runs.
    public struct Options: Sendable, Equatable {
        /// Inference size in pixels, rounded up to a multiple of the model's stride.
        public var imageSize: Int
        /// Detections need objectness x class probability above this.
        public var confidenceThreshold: Float
        /// Boxes overlapping a kept box of their class (any class with `agnosticNMS`) with IoU
        /// above this are suppressed.
        public var iouThreshold: Float
        /// Keep only these class ids; nil: all.
        public var classes: [Int]?
        /// At most this many detections per image, highest confidence first.
        public var maxDetections: Int
        /// Suppress overlapping boxes across classes too.
        public var agnosticNMS: Bool
        /// One detection per box and class above the threshold instead of the best class only
        /// (test.py's mAP protocol).
        public var multiLabel: Bool
        public var preprocessing: Preprocessing
        public var precision: Precision
        /// Threads inside each call's kernels; nil: the process default (`ComputeThreads`,
        /// 1 unless set).
        public var threads: Int?
        /// Calls that run at once, each with its own scratch memory (the arena of a forward
        /// pass: tens of MB at 640); more callers wait. Nil: one per core.
        public var maxConcurrentCalls: Int?
        /// Which fast kernel paths run (all by default; switched off only to measure them).
        public var kernels: KernelOptions
        /// Images whose header declares more pixels than this are refused before decoding.
        public var maxPixels: Int

        public init(imageSize: Int = 640, confidenceThreshold: Float = 0.25, iouThreshold: Float = 0.45,
                    classes: [Int]? = nil, maxDetections: Int = 300, agnosticNMS: Bool = false,
                    multiLabel: Bool = false, preprocessing: Preprocessing = .detect, precision: Precision = .fp32,
                    threads: Int? = nil, maxConcurrentCalls: Int? = nil, kernels: KernelOptions = .default,
                    maxPixels: Int = RGBImage.defaultMaxPixels) {
            self.imageSize = imageSize
            self.confidenceThreshold = confidenceThreshold
            self.iouThreshold = iouThreshold
            self.classes = classes
            self.maxDetections = maxDetections
            self.agnosticNMS = agnosticNMS
            self.multiLabel = multiLabel
            self.preprocessing = preprocessing
            self.precision = precision
            self.threads = threads
            self.maxConcurrentCalls = maxConcurrentCalls
            self.kernels = kernels
            self.maxPixels = maxPixels
        }

        /// The protocol of official test.py (DESIGN section 5), for mAP: its pre-processing,
        /// conf 0.001, IoU 0.65, multi-label NMS, at most 300 detections.
        public static func evaluation(imageSize: Int = 640, confidenceThreshold: Float = 0.001,
                                      iouThreshold: Float = 0.65) -> Options {
            Options(imageSize: imageSize, confidenceThreshold: confidenceThreshold, iouThreshold: iouThreshold,
                    maxDetections: 300, multiLabel: true, preprocessing: .evaluation)
        }

        /// The same from an evaluation's settings.
        public static func evaluation(_ settings: EvalSettings) -> Options {
            var options = evaluation(imageSize: settings.imgSize)
            options.confidenceThreshold = settings.nms.confThreshold
            options.iouThreshold = settings.nms.iouThreshold
            options.multiLabel = settings.nms.multiLabel
            options.maxDetections = settings.nms.maxDetections
            return options
        }

        /// The NMS these options ask for.
        public var nms: NMSOptions {
            NMSOptions(confThreshold: confidenceThreshold, iouThreshold: iouThreshold, classes: classes,
                       agnostic: agnosticNMS, multiLabel: multiLabel, maxDetections: maxDetections)
        }

        /// Checks the values against each other and the model's class count; throws
        /// ``DetectorError/invalidOptions(_:)``.
        public func validate(classCount: Int) throws {
            func fail(_ why: String) -> DetectorError { .invalidOptions(why) }
            guard (32...8192).contains(imageSize) else { throw fail("image size \(imageSize) is not within 32...8192") }
            guard (0...1).contains(confidenceThreshold) else { throw fail("confidence threshold \(confidenceThreshold) is not within 0...1") }
            guard (0...1).contains(iouThreshold) else { throw fail("IoU threshold \(iouThreshold) is not within 0...1") }
            guard maxDetections >= 1 else { throw fail("max detections must be at least 1, not \(maxDetections)") }
            if let threads, threads < 1 { throw fail("threads must be at least 1, not \(threads)") }
            if let maxConcurrentCalls, maxConcurrentCalls < 1 { throw fail("max concurrent calls must be at least 1, not \(maxConcurrentCalls)") }
            guard maxPixels >= 1 else { throw fail("max pixels must be positive") }
            for c in classes ?? [] where !(0..<classCount).contains(c) {
                throw fail("class \(c) is not a class of this model (0..<\(classCount))")
            }
        }
    }
}
