internal import CLua
internal import Glibc

/// `ForkliftMicroBench [--quick] [FILTER ...]`: times Forklift's hot paths,
/// one line per benchmark (`name ns_per_op=... ops_per_s=... [mib_per_s=...]`).
/// Not part of `swift test`: run it from a release build
/// (`swift run -c release ForkliftMicroBench`).
@main
enum MicroBench {
    static func main() {
        var filters: [String] = []
        var harness = Harness()
        for argument in CommandLine.arguments.dropFirst() {
            if argument == "--quick" {
                harness.samples = 3
                harness.sampleSeconds = 0.01
            } else {
                filters.append(argument)
            }
        }
        do {
            let benchmarks = try LuaHostBenchmarks.all() + CodecBenchmarks.all() + FrameBenchmarks.all()
                + QueueBenchmarks.all()
            for benchmark in benchmarks where filters.isEmpty || filters.contains(where: { benchmark.name.contains($0) }) {
                print(try harness.run(benchmark).line)
                fflush(nil)
            }
        } catch {
            fputs("ForkliftMicroBench: \(error)\n", forklift_stderr())
            exit(1)
        }
    }
}
