import ArgumentParser
import Dispatch
import Foundation
import YOLOModel
import YOLOQuant
import YOLOTensor
import YOLOVision
import YOLOv7

/// `bench --json F` (DESIGN section 2). Keys beyond the contract's are additions, never renames.
struct BenchReport: Codable {
    struct LayerRow: Codable {
        let index: Int
        let module: String
        let ms: Double
        let share: Double
        let gflops: Double
        let shape: [Int]
        /// Process CPU time (all threads) during the layer.
        let cpu_ms: Double
    }
    struct Outside: Codable {
        let decode_ms: Double?
        let letterbox_ms: Double?
        let to_tensor_ms: Double?
        let nms_ms: Double
        let detections: Int
    }
    let model: String
    let img: [Int]
    let batch: Int
    let threads: Int
    let runs: Int
    let warmup: Int
    let median_ms: Double
    let p90_ms: Double
    let min_ms: Double
    let images_per_s: Double
    let gflop: Double
    let gflops_per_s: Double
    let peak_rss_bytes: Int
    /// getrusage's ru_maxrss: the same as peak_rss_bytes unless a bigger parent started us.
    let ru_maxrss_bytes: Int
    let current_rss_bytes: Int
    let weight_bytes: Int
    /// Weights rearranged for the fast path (Winograd transforms), resident beside them.
    let prepared_weight_bytes: Int
    let blas_core: String
    /// The level the C kernels ran at (`KernelISA`: avx512, avx2, baseline, neon, plain).
    let isa: String
    /// Every timed run, in order.
    let times_ms: [Double]
    /// Median process CPU time (user + system, all threads) per run: the work done, less
    /// sensitive than wall time to other load on shared cores.
    let cpu_ms: Double
    /// What `--tune` measured: each Winograd conv's time per tile and the one kept.
    struct TuneRow: Codable {
        let conv: String
        let tile: Int
        let ms_by_tile: [String: Double]
    }
    var winograd_tuning: [TuneRow]?
    var layers: [LayerRow]?
    /// fp32 or int8 (`--precision`).
    var precision = "fp32"
    /// With int8, the level the int8 kernels ran at (`KernelISA.int8Level`: avx512-vnni,
    /// avx2-vnni, avx2, baseline, neon-dotprod, neon, plain); absent for fp32.
    var isa_int8: String?
    var layers_sum_ms: Double?
    var profiled_total_ms: Double?
    var outside_graph: Outside?
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time forward passes: latency (median, p90), images/s, peak memory, per-layer profile.")

    @Option(help: "Weights: .pt checkpoint or .safetensors, or 'random' with --cfg (random-init model).")
    var weights: String

    @OptionGroup var precision: PrecisionOptions

    @Option(name: .customLong("cfg"), help: "Model YAML (required with --weights random).")
    var cfg: String?

    @Option(help: "Input size in pixels (square; rounded up to a multiple of the model stride).")
    var img = 640

    @Option(help: "Images per forward pass.")
    var batch = 1

    @Option(help: "Timed forward passes.")
    var runs = 20

    @Option(help: "Untimed forward passes first.")
    var warmup = 3

    @Option(help: "Threads for BLAS and the engine's own kernels (default: all cores).")
    var threads: Int?

    @Flag(help: "Per-layer time table, and the time spent outside the graph (pre/post-processing, NMS).")
    var profile = false

    @Option(help: "Letterbox this image as detect does instead of a synthetic input (and time its pre-processing).")
    var source: String?

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    @Flag(help: .hidden)
    var plain = false

    @Flag(name: .customLong("no-winograd"), help: .hidden)
    var noWinograd = false

    @Flag(name: .customLong("no-pointwise"), help: .hidden)
    var noPointwise = false

    @Flag(name: .customLong("no-s2-winograd"), help: .hidden)
    var noStrideTwoWinograd = false

    @Flag(name: .customLong("no-spin"), help: .hidden)
    var noSpin = false

    @Flag(name: .customLong("no-sibling-fusion"), help: .hidden)
    var noSiblingFusion = false

    @Option(name: .customLong("winograd-tile"), help: .hidden)
    var winogradTile: Int?

    @Flag(help: "Time each Winograd tile size (F(2x2), F(4x4)) on every 3x3 conv's real input first and keep the fastest per conv.")
    var tune = false

    func validate() throws {
        guard (32...8192).contains(img) else { throw ValidationError("--img must be between 32 and 8192") }
        guard (1...256).contains(batch) else { throw ValidationError("--batch must be between 1 and 256") }
        guard runs >= 1, warmup >= 0 else { throw ValidationError("--runs must be positive and --warmup not negative") }
        if let threads, threads < 1 { throw ValidationError("--threads must be positive") }
        if let winogradTile, Winograd.Tile(rawValue: winogradTile)?.available != true {
            throw ValidationError("--winograd-tile must be 2 or 4 (4 needs a vector kernel level: avx2, avx512 or neon)")
        }
        if weights == "random" && cfg == nil { throw ValidationError("--weights random needs --cfg CFG.yaml") }
    }

    func run() throws {
        try runReportingErrors {
            let cores = threads ?? ProcessInfo.processInfo.activeProcessorCount
            ComputeThreads.set(cores)
            let kernels = kernelOptions
            let model: YOLOModel
            let modelName: String
            if weights == "random", let cfg {
                model = try ModelBuilder.build(config: try ModelConfig.load(path: cfg), weights: RandomTensorSource())
                modelName = "random:" + (cfg as NSString).lastPathComponent
            } else {
                model = try ModelLoader.load(path: weights, configPath: cfg)
                modelName = (weights as NSString).lastPathComponent
            }
            // The passes run through a detector (its kernel options and pool of contexts); the
            // model stays in reach for tuning and the per-layer profile.
            let detector = try Detector(model: model, options: Detector.Options(
                imageSize: img, precision: precision.precision.detectorPrecision, kernels: kernels),
                calibration: try precision.calibration(), calibrationProgress: ProgressLine.reporter("calibration"))
            let stride = detector.stride
            let size = detector.inputSize
            if size != img { printError("yolov7: --img \(img) must be a multiple of \(stride), using \(size)") }
            precision.report(detector)

            // The input: a letterboxed picture, or deterministic noise in [0, 1].
            var outside: (decode: Double, letterbox: Double, toTensor: Double)?
            var transform: BoxTransform?
            var single: Tensor
            if let source {
                let t0 = now()
                let picture = try RGBImage(contentsOf: URL(fileURLWithPath: source))
                let t1 = now()
                let letterbox = detector.letterbox(picture)
                let t2 = now()
                single = letterbox.tensor()
                let t3 = now()
                outside = (ms(t0, t1), ms(t1, t2), ms(t2, t3))
                transform = letterbox.boxTransform
            } else {
                var state: UInt32 = 12345
                single = Tensor(shape: [1, 3, size, size], data: (0..<(3 * size * size)).map { _ in
                    state = state &* 1_664_525 &+ 1_013_904_223
                    return Float(state >> 8) / Float(1 << 24)
                })
            }
            let input = batch == 1 ? single
                : Tensor(shape: [batch] + single.shape.dropFirst(), data: Array([[Float]](repeating: single.data, count: batch).joined()))
            let s = input.featureShape
            let shapes = try model.shapes(for: s)
            let flops = model.nodes.reduce(0.0) { total, node in
                total + node.layer.flops(node.inputs.map { $0 < 0 ? s : shapes[$0] })
            }

            var prediction = Tensor(zeros: [1])
            func pass() -> Tensor {
                plain ? detector.withContext { model.forwardReference(input, context: &$0) } : detector.predict(input)
            }
            var tuning: [BenchReport.TuneRow]?
            if tune {
                model.tuneWinograd()
                prediction = pass()
                tuning = model.convs.filter { !$0.winogradTimings.isEmpty }.map { conv in
                    BenchReport.TuneRow(conv: conv.name, tile: conv.winogradTile?.rawValue ?? 0,
                                        ms_by_tile: Dictionary(uniqueKeysWithValues: conv.winogradTimings.map { ("\($0.key.rawValue)", $0.value) }))
                }
            }
            // Inference only from here: drop the dense copy of weights that have a Winograd form.
            model.releaseDenseWeights(options: kernels)
            for _ in 0..<warmup { prediction = pass() }
            var times: [Double] = []
            var cpu: [Double] = []
            for _ in 0..<runs {
                let c0 = MemoryUsage.cpuSeconds
                let t0 = now()
                prediction = pass()
                times.append(ms(t0, now()))
                cpu.append((MemoryUsage.cpuSeconds - c0) * 1000)
            }
            let median = percentile(times, 0.5)
            let p90 = percentile(times, 0.9)

            var report = BenchReport(
                model: modelName, img: [s.height, s.width], batch: batch, threads: cores, runs: runs, warmup: warmup,
                median_ms: median, p90_ms: p90, min_ms: times.min() ?? 0,
                images_per_s: Double(batch) * 1000 / median, gflop: flops / 1e9,
                gflops_per_s: flops / 1e6 / median, peak_rss_bytes: MemoryUsage.peakResidentBytes,
                ru_maxrss_bytes: MemoryUsage.maxResidentBytes, current_rss_bytes: MemoryUsage.currentResidentBytes, weight_bytes: model.weightBytes, prepared_weight_bytes: model.preparedWeightBytes,
                blas_core: BLASThreads.coreName, isa: KernelISA.current.description, times_ms: times,
                cpu_ms: percentile(cpu, 0.5))
            report.precision = precision.precision.rawValue
            let int8 = precision.precision == .int8
            if int8 { report.isa_int8 = KernelISA.int8Level }

            print("model \(modelName): input \(s), \(String(format: "%.2f", flops / 1e9)) GFLOP, "
                  + "weights \(bytes(model.weightBytes)), \(cores) threads (kernels \(KernelISA.summary(int8: int8)), BLAS core \(BLASThreads.coreName))")
            print(String(format: "latency: median %.2f ms, p90 %.2f ms, min %.2f ms over %d runs (%d warm-up); %.2f images/s, %.1f GFLOP/s; CPU %.1f ms/run",
                         median, p90, report.min_ms, runs, warmup, report.images_per_s, report.gflops_per_s, report.cpu_ms))
            report.winograd_tuning = tuning
            if let tuning {
                let four = tuning.filter { $0.tile == 4 }.count
                print("winograd tuned: \(four) convs F(4x4,3x3), \(tuning.count - four) F(2x2,3x3)")
            }
            print("memory: peak RSS \(bytes(report.peak_rss_bytes)), current RSS \(bytes(report.current_rss_bytes)); "
                  + "weights \(bytes(report.weight_bytes)) + prepared \(bytes(report.prepared_weight_bytes)), "
                  + "activation arena \(bytes(detector.withContext { $0.workspaceFloats } * 4))")

            if profile {
                try detector.withContext { context in
                    try runProfile(model: model, input: input, shapes: shapes, context: &context, report: &report,
                                   unprofiledMedian: median)
                }
                // Post-processing on this run's output: NMS (detect.py defaults) and scaling back.
                let nmsRuns = 5
                var nmsTimes: [Double] = []
                var found = 0
                let first = batch == 1 ? prediction
                    : Tensor(shape: [1] + prediction.shape.dropFirst(), data: Array(prediction.data.prefix(prediction.count / batch)))
                for _ in 0..<nmsRuns {
                    let t0 = now()
                    let detections = detector.detections(in: first, boxTransform: transform)
                    nmsTimes.append(ms(t0, now()))
                    found = detections.count
                }
                let nms = percentile(nmsTimes, 0.5)
                report.outside_graph = BenchReport.Outside(
                    decode_ms: outside?.decode, letterbox_ms: outside?.letterbox, to_tensor_ms: outside?.toTensor,
                    nms_ms: nms, detections: found)
                print("outside the graph (one image):")
                if let outside {
                    print(String(format: "  decode %.2f ms, letterbox %.2f ms, to tensor %.2f ms (first call, cold)",
                                 outside.decode, outside.letterbox, outside.toTensor))
                } else {
                    print("  pre-processing: not measured (no --source image)")
                }
                print(String(format: "  NMS + scale back %.3f ms (%d detections%@)", nms, found,
                             source == nil ? ", synthetic input" : ""))
            }

            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                try encoder.encode(report).write(to: URL(fileURLWithPath: json), options: .atomic)
            }
        }
    }

    /// Per-layer times: the same number of runs again, each layer timed by the graph's observer.
    /// Means, not medians: the sum of per-layer means is the mean pass less what runs between
    /// layers, which is what the coverage check is about (on a loaded machine medians of
    /// right-skewed times do not add up).
    func runProfile(model: YOLOModel, input: Tensor, shapes: [FeatureShape], context: inout ForwardContext,
                    report: inout BenchReport, unprofiledMedian: Double) throws {
        let s = input.featureShape
        var perLayer = [Double](repeating: 0, count: model.nodes.count)
        var perLayerCPU = [Double](repeating: 0, count: model.nodes.count)
        var totals: [Double] = []
        for _ in 0..<runs {
            // CPU time of the whole process between observer calls: the work a layer did on
            // all threads, which other load on the machine does not inflate as much as wall time.
            var lastCPU = MemoryUsage.cpuSeconds
            let observe: (Int, Double) -> Void = { index, ms in
                perLayer[index] += ms
                let cpu = MemoryUsage.cpuSeconds
                perLayerCPU[index] += (cpu - lastCPU) * 1000
                lastCPU = cpu
            }
            let t0 = now()
            _ = plain ? model.forwardReference(input, context: &context, observe: observe)
                : model.forward(input, context: &context, observe: observe)
            totals.append(ms(t0, now()))
        }
        let total = totals.reduce(0, +) / Double(runs)
        let layerMs = perLayer.map { $0 / Double(runs) }
        let layerCPU = perLayerCPU.map { $0 / Double(runs) }
        let sum = layerMs.reduce(0, +)
        var rows: [BenchReport.LayerRow] = []
        // Sibling 1x1 convs run as one pass: its time (and GFLOP/s, of all of them) is on the
        // first, the others read 0.
        var fusedWith: [Int: Int] = [:]
        var runOf: [Int: [Int]] = [:]
        for run in context.fusedSiblings {
            runOf[run[0]] = run
            for i in run.dropFirst() { fusedWith[i] = run[0] }
        }
        func nodeFlops(_ i: Int) -> Double {
            model.nodes[i].layer.flops(model.nodes[i].inputs.map { $0 < 0 ? s : shapes[$0] })
        }
        print("")
        print(" idx  module            ms   share  GFLOP/s   CPU ms  output")
        for node in model.nodes {
            let flops = (runOf[node.index] ?? [node.index]).reduce(0) { $0 + nodeFlops($1) }
            let t = layerMs[node.index]
            let shape: [Int]
            if node.index == model.nodes.count - 1 {
                shape = [s.batch, model.detect.rowCount(node.inputs.map { shapes[$0] }), model.detect.outputsPerAnchor]
            } else {
                shape = shapes[node.index].dims
            }
            let row = BenchReport.LayerRow(index: node.index, module: node.layer.module, ms: t, share: t / sum,
                                           gflops: t > 0 ? flops / 1e6 / t : 0, shape: shape,
                                           cpu_ms: layerCPU[node.index])
            rows.append(row)
            print(String(format: "%4d  ", row.index) + row.module.padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: " %7.2f  %5.1f%%  %7.1f  %7.2f  ", row.ms, row.share * 100, row.gflops, row.cpu_ms)
                  + shape.map(String.init).joined(separator: "x")
                  + (fusedWith[node.index].map { "  (run with \($0))" } ?? ""))
        }
        if !fusedWith.isEmpty {
            print("rows \"run with N\": 1x1 convs run in one pass with their sibling N, whose row holds the pass's time "
                  + "and GFLOP/s (--no-sibling-fusion times them apart)")
        }
        let coverage = sum / total
        print(String(format: "sum of layer means %.2f ms = %.1f%% of the mean profiled pass %.2f ms (unprofiled median %.2f ms)",
                     sum, coverage * 100, total, unprofiledMedian))
        if abs(coverage - 1) > 0.05 { printError("yolov7: warning: layer times cover \(Int(coverage * 100))% of the pass, not within 5%") }
        report.layers = rows
        report.layers_sum_ms = sum
        report.profiled_total_ms = total
    }

    /// The hidden flags that switch fast paths off, to measure what each one gains.
    var kernelOptions: KernelOptions {
        var options = KernelOptions()
        options.winograd = !noWinograd
        options.pointwise = !noPointwise
        options.spinningPool = !noSpin
        options.strideTwoWinograd = !noStrideTwoWinograd
        options.siblingFusion = !noSiblingFusion
        options.winogradTile = winogradTile.flatMap(Winograd.Tile.init(rawValue:))
        return options
    }

    func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    func ms(_ a: UInt64, _ b: UInt64) -> Double { Double(b - a) / 1e6 }

    func percentile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        if q == 0.5 {
            let n = sorted.count
            return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        }
        // Nearest rank.
        return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
    }

    func bytes(_ n: Int) -> String { String(format: "%.1f MiB", Double(n) / 1_048_576) }
}

/// Resident memory of this process, as the kernel counts it.
enum MemoryUsage {
    /// Peak resident set of this process: VmHWM from /proc/self/status, else ru_maxrss.
    /// (Linux keeps ru_maxrss across fork + exec: started by a big parent, such as a Python
    /// benchmark driver, ru_maxrss reports the parent's peak; VmHWM belongs to this image.)
    static var peakResidentBytes: Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) {
            return kib * 1024
        }
        return maxResidentBytes
    }

    /// getrusage ru_maxrss (KiB on Linux).
    static var maxResidentBytes: Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    /// Current resident set: the second field of /proc/self/statm, in pages.
    static var currentResidentBytes: Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// CPU time of the whole process so far (all threads, user + system), nanosecond clock.
    static var cpuSeconds: Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}
