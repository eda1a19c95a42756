import Testing
@testable import YOLOTensor

