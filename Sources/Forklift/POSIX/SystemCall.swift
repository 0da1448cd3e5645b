internal import Glibc

/// An `errno` value from a failed system call, with the call's name.
struct SystemError: Error, CustomStringConvertible, Equatable {
    var call: String
    var errno: Int32

    init(_ call: String, errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
    }

    var description: String {
        let text = strerror(errno).map { String(cString: $0) } ?? "error \(errno)"
        return "\(call): \(text)"
    }
}

/// The one place where EINTR is retried: runs `body` until it does not fail
/// with EINTR and returns its result, or throws `SystemError` for any other
/// failure (a result of -1). Never use it for `close` (a retry could close a
/// descriptor another part just received).
@inline(__always)
func retryingInterrupts<T: FixedWidthInteger>(_ call: @autoclosure () -> String, _ body: () -> T) throws(SystemError)
    -> T
{
    while true {
        let r = body()
        if r != -1 { return r }
        let e = errno
        if e != EINTR { throw SystemError(call(), errno: e) }
    }
}
