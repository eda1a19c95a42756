import Testing
@testable import YOLOQuant

