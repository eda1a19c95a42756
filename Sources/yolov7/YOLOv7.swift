import ArgumentParser
import Foundation
import YOLOTensor

// Async at the root only because `serve` is; every other command runs synchronously.
@main
struct YOLOv7Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "yolov7",
        abstract: "YOLOv7 inference on CPU, with quantized weights.",
        subcommands: [DetectCommand.self, EvalCommand.self, CompareCommand.self, QuantizeCommand.self, SweepCommand.self,
                      BenchCommand.self, ServeCommand.self, ForwardCommand.self, InspectCommand.self, ConvertCommand.self])
}

/// Runs a subcommand body, turning any error into one line on stderr and exit status 1.
func runReportingErrors(_ body: () throws -> Void) throws {
    // Line-buffered stdout, so per-image and per-setting lines reach a log file as they happen.
    setvbuf(stdout, nil, _IOLBF, 0)
    do {
        // A YOLOV7_ISA the kernels could not apply as written (they would run another level).
        if let problem = KernelISA.requestProblem { throw ValidationError(problem) }
        try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        FileHandle.standardError.write(Data("yolov7: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// True when stderr is a terminal: progress lines only then.
var stderrIsTerminal: Bool { isatty(2) == 1 }
