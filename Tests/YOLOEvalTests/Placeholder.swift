import Testing
@testable import YOLOEval

