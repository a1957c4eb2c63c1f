// The FUSE wire (`FUSEConnection`, `FUSEInitParameters`, the request and
// reply types) is a module of its own; the daemon and the tests see it
// through this one.
@_exported import FUSEProtocol
