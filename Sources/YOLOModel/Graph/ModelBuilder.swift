import Foundation
import YOLOTensor

/// Builds a `YOLOModel` from a config and a tensor source, following the official
/// `parse_model` (models/yolo.py): channel bookkeeping, width/depth multiples, module arguments.
public enum ModelBuilder {
    /// BatchNorm eps set by the official `initialize_weights`; a checkpoint's own value wins.
    public static let defaultBatchNormEps = 1e-3
    /// Largest channel count a layer may have (official models reach 1,280); bounds the
    /// arithmetic of Concat/ReOrg chains in hostile configs.
    public static let maxChannels = 1 << 16
    /// Largest feature-map side in pixels (inputs are at most 8,192 here).
    public static let maxFeatureSide = 1 << 16

    public static func build(config: ModelConfig, weights: TensorSource, classNames: [String]? = nil) throws -> YOLOModel {
        var builder = Builder(config: config, weights: weights)
        let nodes = try builder.buildNodes()
        let names = classNames ?? (0..<config.nc).map { "class\($0)" }
        let model = YOLOModel(config: config, nodes: nodes, classNames: names)
        // Strides as the official Model.__init__ measures them: a 256x256 dry run (shapes only).
        let probe = 256
        let shapes = try model.shapes(for: FeatureShape(batch: 1, channels: 3, height: probe, width: probe))
        let detectNode = nodes.last!
        model.detect.strides = detectNode.inputs.prefix(model.detect.levels.count).map {
            Float(probe) / Float(shapes[$0].height)
        }
        return model
    }

    struct Builder {
        let config: ModelConfig
        let weights: TensorSource
        var channels: [Int] = []  // output channels per built layer

        init(config: ModelConfig, weights: TensorSource) {
            self.config = config
            self.weights = weights
        }

        func fail(_ i: Int, _ reason: String) -> YOLOModelError {
            .invalidConfig(source: config.origin, reason: "layer \(i): \(reason)")
        }

        mutating func buildNodes() throws -> [GraphNode] {
            var nodes: [GraphNode] = []
            let na = config.anchorsPerLevel
            let no = na * (config.nc + 5)
            for (i, row) in config.rows.enumerated() {
                // Resolve `from` against the layers built so far; -1 at layer 0 is the image.
                let from: [Int] = try row.from.map { f in
                    let j = f < 0 ? i + f : f
                    if j == -1 && i == 0 { return -1 }
                    guard j >= 0 && j < i else { throw fail(i, "'from' index \(f) does not name an earlier layer") }
                    return j
                }
                func ch(_ j: Int) -> Int { j < 0 ? 3 : channels[j] }
                let c1 = ch(from[0])
                let prefix = "model.\(i)"
                let args = row.args
                let module = row.module
                // Official depth gain: n = max(round(n * gd), 1) for n > 1 (Python rounds half to even).
                let n = row.number > 1 ? max(Int((Double(row.number) * config.depthMultiple).rounded(.toNearestOrEven)), 1) : row.number
                func outChannels(_ value: ConfigValue?) throws -> Int {
                    guard let c2 = value?.intValue, c2 > 0, c2 <= 1 << 16 else { throw fail(i, "\(module): output channels must be a positive integer") }
                    return c2 == no ? c2 : makeDivisible(Double(c2) * config.widthMultiple, 8)
                }
                let layer: Layer
                let c2: Int
                switch module {
                case "Conv", "RepConv", "nn.Conv2d":
                    c2 = try outChannels(args.first)
                    let k = try intArg(args, 1, default: module == "RepConv" ? 3 : 1, i)
                    let s = try intArg(args, 2, default: 1, i)
                    let p = try optionalIntArg(args, 3, i) ?? k / 2
                    let g = try intArg(args, 4, default: 1, i)
                    guard k >= 1, k <= 15, s >= 1, s <= 8, p >= 0, p <= k, g >= 1, c1 % g == 0, c2 % g == 0 else {
                        throw fail(i, "\(module): unsupported kernel/stride/padding/groups \(k)/\(s)/\(p)/\(g)")
                    }
                    let geometry = ConvGeometry(inChannels: c1, outChannels: c2, kernel: k, stride: s, padding: p, groups: g)
                    let stageCount = n
                    var stages: [Layer] = []
                    for r in 0..<stageCount {
                        let stagePrefix = stageCount > 1 ? "\(prefix).\(r)" : prefix
                        let act: Activation
                        if module == "nn.Conv2d" {
                            act = .identity
                        } else {
                            act = try activation(args.count > 5 ? args[5] : nil, module: "\(stagePrefix).act", i)
                        }
                        let stageGeometry = r == 0 ? geometry
                            : ConvGeometry(inChannels: c2, outChannels: c2, kernel: k, stride: s, padding: p, groups: g)
                        let conv: ConvUnit
                        switch module {
                        case "RepConv": conv = try loadRepConv(stagePrefix, stageGeometry, act)
                        case "nn.Conv2d": conv = try loadPlainConv(stagePrefix, stageGeometry, act)
                        default: conv = try loadConv(stagePrefix, stageGeometry, act)
                        }
                        stages.append(ConvLayer(module: module, conv: conv))
                    }
                    layer = stages.count == 1 ? stages[0] : RepeatLayer(module: module, stages: stages)
                case "MP":
                    let k = try intArg(args, 0, default: 2, i)
                    guard k >= 1 && k <= 64 else { throw fail(i, "MP: bad kernel \(k)") }
                    layer = MaxPoolLayer(module: module, kernel: k, stride: k, padding: 0)
                    c2 = c1
                case "SP":
                    let k = try intArg(args, 0, default: 3, i)
                    let s = try intArg(args, 1, default: 1, i)
                    guard k >= 1 && k <= 64 && s >= 1 && s <= 64 else { throw fail(i, "SP: bad kernel/stride \(k)/\(s)") }
                    layer = MaxPoolLayer(module: module, kernel: k, stride: s, padding: k / 2)
                    c2 = c1
                case "nn.MaxPool2d":
                    let k = try intArg(args, 0, default: 2, i)
                    let s = try optionalIntArg(args, 1, i) ?? k
                    let p = try intArg(args, 2, default: 0, i)
                    guard k >= 1 && k <= 64 && s >= 1 && p >= 0 && p <= k / 2 else { throw fail(i, "nn.MaxPool2d: bad arguments") }
                    layer = MaxPoolLayer(module: module, kernel: k, stride: s, padding: p)
                    c2 = c1
                case "nn.Upsample":
                    let mode = args.count > 2 ? (args[2].stringValue ?? "nearest") : "nearest"
                    guard mode == "nearest" else { throw fail(i, "nn.Upsample: only 'nearest' is supported, got '\(mode)'") }
                    guard args.count > 1, let scale = args[1].doubleValue, scale == scale.rounded(), scale >= 1, scale <= 16 else {
                        throw fail(i, "nn.Upsample: needs an integer scale_factor")
                    }
                    layer = UpsampleLayer(scale: Int(scale))
                    c2 = c1
                case "Concat":
                    let d = try intArg(args, 0, default: 1, i)
                    guard d == 1 else { throw fail(i, "Concat: only dimension 1 (channels) is supported") }
                    layer = ConcatLayer()
                    c2 = from.map(ch).reduce(0, +)
                case "Shortcut":
                    guard from.count == 2 else { throw fail(i, "Shortcut needs two inputs") }
                    layer = ShortcutLayer()
                    c2 = ch(from[0])
                case "ReOrg":
                    layer = ReOrgLayer()
                    c2 = c1 * 4
                case "DownC":
                    c2 = try outChannels(args.first)
                    let k = try intArg(args, 1, default: 2, i)
                    guard c2 % 2 == 0, k >= 1, k <= 8 else { throw fail(i, "DownC: bad channels or kernel") }
                    let mid = c1
                    layer = DownCLayer(
                        cv1: try loadConv("\(prefix).cv1", ConvGeometry(inChannels: c1, outChannels: mid, kernel: 1), .silu),
                        cv2: try loadConv("\(prefix).cv2", ConvGeometry(inChannels: mid, outChannels: c2 / 2, kernel: 3, stride: k, padding: 1), .silu),
                        cv3: try loadConv("\(prefix).cv3", ConvGeometry(inChannels: c1, outChannels: c2 / 2, kernel: 1), .silu),
                        kernel: k)
                case "SPPCSPC":
                    c2 = try outChannels(args.first)
                    // SPPCSPC(c1, c2, n, shortcut, g, e=0.5, k=(5, 9, 13)); YAML args after c2 shift by the inserted n.
                    let e = args.count > 4 ? (args[4].doubleValue ?? 0.5) : 0.5
                    var pools = [5, 9, 13]
                    if args.count > 5, let list = args[5].listValue {
                        pools = list.compactMap(\.intValue)
                        guard pools.count == list.count, pools.allSatisfy({ $0 >= 1 && $0 % 2 == 1 && $0 <= 63 }) else {
                            throw fail(i, "SPPCSPC: pool kernels must be odd integers")
                        }
                    }
                    let c = Int(2 * Double(c2) * e)
                    guard c > 0 else { throw fail(i, "SPPCSPC: hidden channels must be positive") }
                    func g(_ cin: Int, _ cout: Int, _ k: Int) -> ConvGeometry {
                        ConvGeometry(inChannels: cin, outChannels: cout, kernel: k, stride: 1, padding: k / 2)
                    }
                    let geoms = [g(c1, c, 1), g(c1, c, 1), g(c, c, 3), g(c, c, 1), g((pools.count + 1) * c, c, 1), g(c, c, 3), g(2 * c, c2, 1)]
                    let convs = try geoms.enumerated().map { try loadConv("\(prefix).cv\($0.offset + 1)", $0.element, .silu) }
                    layer = SPPCSPCLayer(convs: convs, pools: pools)
                case "Detect", "IDetect", "IAuxDetect":
                    let nl = config.anchors.count
                    let levelCount = module == "IAuxDetect" ? from.count / 2 : from.count
                    guard levelCount == nl else {
                        throw fail(i, "\(module) has \(from.count) inputs for \(nl) anchor levels")
                    }
                    let classes = args.first?.intValue ?? config.nc
                    guard classes == config.nc else { throw fail(i, "\(module): nc \(classes) differs from config nc \(config.nc)") }
                    layer = try loadDetect(prefix, module: module, inputChannels: from.prefix(nl).map(ch))
                    c2 = config.nc + 5
                default:
                    throw fail(i, "unknown module '\(module)'")
                }
                // The graph's result is the head's: it must be last, and only there.
                if (layer is DetectLayer) != (i == config.rows.count - 1) {
                    throw fail(i, layer is DetectLayer ? "\(module) must be the last layer"
                                   : "the last layer must be Detect, IDetect or IAuxDetect, not \(module)")
                }
                guard c2 > 0, c2 <= ModelBuilder.maxChannels else {
                    throw fail(i, "\(module) would have \(c2) channels, more than the \(ModelBuilder.maxChannels) allowed")
                }
                channels.append(c2)
                nodes.append(GraphNode(index: i, inputs: from, layer: layer, channels: c2))
            }
            return nodes
        }

        // MARK: arguments

        func intArg(_ args: [ConfigValue], _ k: Int, default value: Int, _ i: Int) throws -> Int {
            try optionalIntArg(args, k, i) ?? value
        }

        /// `None`/null/absent -> nil; integers; anything else is an error.
        func optionalIntArg(_ args: [ConfigValue], _ k: Int, _ i: Int) throws -> Int? {
            guard k < args.count else { return nil }
            switch args[k] {
            case .null: return nil
            case .string("None"): return nil
            case let v:
                guard let n = v.intValue else { throw fail(i, "argument \(k) should be an integer, got \(v)") }
                return n
            }
        }

        /// The `act` argument of Conv/RepConv: True (SiLU), False (identity) or an nn module
        /// written as text (`nn.LeakyReLU(0.1)`). A checkpoint's module tree has the last word.
        func activation(_ value: ConfigValue?, module path: String, _ i: Int) throws -> Activation {
            if let slope = weights.attribute("negative_slope", of: path) { return .leakyReLU(slope: Float(slope)) }
            if let kind = weights.attribute("activation_kind", of: path) {
                switch kind {
                case 1: return .silu
                case 2: return .identity
                case 3: return .relu
                case 4: return .sigmoid
                default: break
                }
            }
            guard let value else { return .silu }
            switch value {
            case .bool(let b): return b ? .silu : .identity
            case .null: return .identity
            case .string(let s):
                let text = s.replacingOccurrences(of: " ", with: "")
                if text == "True" { return .silu }
                if text == "False" || text == "None" { return .identity }
                let name = text.split(separator: "(").first.map(String.init) ?? text
                switch name.replacingOccurrences(of: "nn.", with: "").replacingOccurrences(of: "torch.", with: "") {
                case "SiLU": return .silu
                case "Identity": return .identity
                case "ReLU": return .relu
                case "Sigmoid": return .sigmoid
                case "LeakyReLU":
                    var slope: Float = 0.01
                    if let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close {
                        let inner = text[text.index(after: open)..<close].replacingOccurrences(of: "negative_slope=", with: "")
                        let first = inner.split(separator: ",").first.map(String.init) ?? ""
                        if !first.isEmpty {
                            guard let v = Float(first) else { throw fail(i, "cannot read LeakyReLU slope in '\(s)'") }
                            slope = v
                        }
                    }
                    return .leakyReLU(slope: slope)
                default:
                    throw fail(i, "unsupported activation '\(s)'")
                }
            default:
                throw fail(i, "unsupported activation argument \(value)")
            }
        }

        // MARK: weights

        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            try weights.tensor(name, shape: shape).data
        }

        func batchNorm(_ bn: String, filters: Int) throws -> (gamma: [Float], beta: [Float], mean: [Float], variance: [Float], eps: Double) {
            (try tensor("\(bn).weight", [filters]), try tensor("\(bn).bias", [filters]),
             try tensor("\(bn).running_mean", [filters]), try tensor("\(bn).running_var", [filters]),
             weights.attribute("eps", of: bn) ?? defaultBatchNormEps)
        }

        func folded(conv: String, bn: String, _ g: ConvGeometry) throws -> (weight: [Float], bias: [Float]) {
            let w = try tensor("\(conv).weight", g.weightShape)
            let b = weights.contains("\(conv).bias") ? try tensor("\(conv).bias", [g.outChannels]) : nil
            let p = try batchNorm(bn, filters: g.outChannels)
            return Folding.foldBatchNorm(weight: w, bias: b, gamma: p.gamma, beta: p.beta, mean: p.mean, variance: p.variance, eps: p.eps)
        }

        /// Conv = Conv2d(bias=False) + BatchNorm2d + act; or already fused (conv has a bias, no bn).
        func loadConv(_ prefix: String, _ g: ConvGeometry, _ act: Activation) throws -> ConvUnit {
            let act = try activation(nil, module: "\(prefix).act", 0, fallback: act)
            let name = "\(prefix).conv"
            if weights.contains("\(prefix).bn.weight") {
                let (w, b) = try folded(conv: name, bn: "\(prefix).bn", g)
                return ConvUnit(name: name, geometry: g, activation: act, weights: w, bias: b)
            }
            let w = try tensor("\(name).weight", g.weightShape)
            let b = try tensor("\(name).bias", [g.outChannels])
            return ConvUnit(name: name, geometry: g, activation: act, weights: w, bias: b)
        }

        func activation(_ value: ConfigValue?, module path: String, _ i: Int, fallback: Activation) throws -> Activation {
            if weights.attribute("negative_slope", of: path) != nil || weights.attribute("activation_kind", of: path) != nil {
                return try activation(value, module: path, i)
            }
            return fallback
        }

        /// A bare nn.Conv2d with bias.
        func loadPlainConv(_ prefix: String, _ g: ConvGeometry, _ act: Activation) throws -> ConvUnit {
            ConvUnit(name: prefix, geometry: g, activation: act,
                     weights: try tensor("\(prefix).weight", g.weightShape),
                     bias: weights.contains("\(prefix).bias") ? try tensor("\(prefix).bias", [g.outChannels]) : [Float](repeating: 0, count: g.outChannels))
        }

        /// RepConv: 3x3+BN, 1x1+BN and (when c1 == c2, stride 1) a BN-only identity branch,
        /// summed into one 3x3 conv as the official `fuse_repvgg_block` does.
        func loadRepConv(_ prefix: String, _ g: ConvGeometry, _ act: Activation) throws -> ConvUnit {
            let name = "\(prefix).rbr_reparam"
            if weights.contains("\(name).weight") {
                return ConvUnit(name: name, geometry: g, activation: act,
                                weights: try tensor("\(name).weight", g.weightShape), bias: try tensor("\(name).bias", [g.outChannels]))
            }
            guard g.kernelH == 3, g.padding == 1 else {
                throw YOLOModelError.invalidConfig(source: config.origin, reason: "\(prefix): RepConv needs k=3, p=1")
            }
            let cg = g.inChannels / g.groups
            var (w, b) = try folded(conv: "\(prefix).rbr_dense.0", bn: "\(prefix).rbr_dense.1", g)
            let g1 = ConvGeometry(inChannels: g.inChannels, outChannels: g.outChannels, kernel: 1, stride: g.stride, padding: 0, groups: g.groups)
            let (w1, b1) = try folded(conv: "\(prefix).rbr_1x1.0", bn: "\(prefix).rbr_1x1.1", g1)
            let w1p = Folding.padPointwise(w1, filters: g.outChannels, channels: cg, kernel: 3)
            for k in 0..<w.count { w[k] += w1p[k] }
            for f in 0..<b.count { b[f] += b1[f] }
            if g.inChannels == g.outChannels && g.stride == 1 && weights.contains("\(prefix).rbr_identity.weight") {
                guard g.groups == 1 else {
                    throw YOLOModelError.invalidConfig(source: config.origin, reason: "\(prefix): grouped RepConv identity is not supported")
                }
                let p = try batchNorm("\(prefix).rbr_identity", filters: g.outChannels)
                let (wi, bi) = Folding.foldBatchNorm(weight: Folding.identityKernel(channels: g.inChannels, kernel: 3), bias: nil,
                                                     gamma: p.gamma, beta: p.beta, mean: p.mean, variance: p.variance, eps: p.eps)
                for k in 0..<w.count { w[k] += wi[k] }
                for f in 0..<b.count { b[f] += bi[f] }
            }
            return ConvUnit(name: name, geometry: g, activation: act, weights: w, bias: b)
        }

        func loadDetect(_ prefix: String, module: String, inputChannels: [Int]) throws -> DetectLayer {
            let na = config.anchorsPerLevel
            let no = config.nc + 5
            var levels: [ConvUnit] = []
            for (l, c) in inputChannels.enumerated() {
                let g = ConvGeometry(inChannels: c, outChannels: na * no, kernel: 1)
                let name = "\(prefix).m.\(l)"
                var w = try tensor("\(name).weight", g.weightShape)
                var b = try tensor("\(name).bias", [g.outChannels])
                if module != "Detect" {
                    // Implicit layers are absent once folded (the engine's own files).
                    let a = weights.contains("\(prefix).ia.\(l).implicit") ? try tensor("\(prefix).ia.\(l).implicit", [1, c, 1, 1]) : nil
                    let m = weights.contains("\(prefix).im.\(l).implicit") ? try tensor("\(prefix).im.\(l).implicit", [1, na * no, 1, 1]) : nil
                    (w, b) = Folding.foldImplicit(weight: w, bias: b, add: a, multiply: m)
                }
                levels.append(ConvUnit(name: name, geometry: g, activation: .identity, weights: w, bias: b))
            }
            // anchor_grid (pixels) from the checkpoint when present: the official build may have
            // flipped the anchor order (check_anchor_order); else the config's anchors.
            let nl = config.anchors.count
            var grid: [[(w: Float, h: Float)]] = config.anchors.map { row in stride(from: 0, to: row.count, by: 2).map { (row[$0], row[$0 + 1]) } }
            if weights.contains("\(prefix).anchor_grid") {
                let t = try weights.tensor("\(prefix).anchor_grid", shape: [nl, 1, na, 1, 1, 2]).data
                grid = (0..<nl).map { l in (0..<na).map { a in (t[(l * na + a) * 2], t[(l * na + a) * 2 + 1]) } }
            }
            return DetectLayer(module: module, levels: levels, classCount: config.nc, anchorGrid: grid)
        }
    }
}

/// Official make_divisible: ceil(x / divisor) * divisor.
func makeDivisible(_ x: Double, _ divisor: Int) -> Int {
    Int((x / Double(divisor)).rounded(.up)) * divisor
}
