import Testing
@testable import YOLOModel

