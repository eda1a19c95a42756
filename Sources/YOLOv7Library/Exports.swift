// What a user of the library needs besides its own types, so that `import YOLOv7` is enough:
// images, the errors the loaders and decoders throw, and the options of the lower layers that
// `Detector.Options` holds. (Only these: YOLOVision's own `Detection`, the raw box the stages
// pass around, would clash with this module's.)
@_exported import struct YOLOVision.RGBImage
@_exported import struct YOLOVision.RGB
@_exported import enum YOLOVision.ImageFormat
@_exported import enum YOLOVision.VisionError
@_exported import struct YOLOVision.NMSOptions
@_exported import enum YOLOModel.YOLOModelError
@_exported import enum YOLOQuant.QuantError
@_exported import enum YOLOQuant.RangeStatistic
@_exported import struct YOLOTensor.KernelOptions
@_exported import enum YOLOTensor.Winograd
