# Sourced by the scripts: puts a toolchain unpacked at /opt/swift on PATH
# when `swift` is not there already, and moves to the package root.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH=/opt/swift/usr/bin:$PATH
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
