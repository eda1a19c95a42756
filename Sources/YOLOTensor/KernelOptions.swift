/// Which fast paths the kernels take: carried by a `Workspace`, so two models (or two passes of
/// one) with different settings can run in one process. The defaults are the fastest paths this
/// CPU has; switching one off exists to measure the difference (`bench`'s hidden flags) and to
/// test a fast path against the one it replaced.
public struct KernelOptions: Sendable, Hashable {
    /// Whether 3x3 stride-1 convs go through Winograd (see `Winograd`); off also turns off
    /// `strideTwoWinograd` (`bench --no-winograd`).
    public var winograd = true
    /// Forces one Winograd tile size for every conv that has not chosen its own
    /// (`bench --winograd-tile`); nil: `Winograd.Tile` F(4x4) where it runs, else F(2x2).
    public var winogradTile: Winograd.Tile?
    /// Whether ungrouped convs other than Winograd's multiply through `PointwiseKernel` (at a
    /// vector kernel level, `KernelISA`), and Winograd's products too; else sgemm (`bench --no-pointwise`).
    public var pointwise = true
    /// Whether 3x3 stride-2 convs on large planes run as `StrideTwoWinograd` (`bench --no-s2-winograd`).
    public var strideTwoWinograd = true
    /// Whether sibling 1x1 convs (same input, one after the other) run as one pointwise pass
    /// (`bench --no-sibling-fusion`); the outputs are the same bit for bit either way.
    public var siblingFusion = true
    /// Whether parallel loops run on the engine's spinning pool (else `concurrentPerform`;
    /// `bench --no-spin`).
    public var spinningPool = true

    public init() {}

    /// Every fast path on.
    public static let `default` = KernelOptions()

    /// The tile a Winograd conv runs unless it chose its own (`ConvUnit.winogradTile`): the
    /// forced one when it runs here, else F(4x4) where it runs and the blocked kernel is on.
    public var preferredWinogradTile: Winograd.Tile {
        if let t = winogradTile, t.available { return t }
        return PointwiseKernel.available && pointwise ? .f4 : .f2
    }

    /// What runs Winograd's products: the blocked kernel where the CPU has it and it is on.
    public var winogradProducts: Winograd.Products {
        PointwiseKernel.available && pointwise ? .blocked : .sgemm
    }
}
