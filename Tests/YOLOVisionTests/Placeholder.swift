import Testing
@testable import YOLOVision

