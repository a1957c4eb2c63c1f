@testable import LXCFSCore
import XCTest

/// Zswap and Zswapped in a container's /proc/meminfo: the cgroup's `zswap`
/// and `zswapped` from a v2 `memory.stat`, 0 kB with `--disable-zswap`, as
/// lxcfs 7 shows them.
final class ZswapTests: XCTestCase {
    let host = """
        MemTotal:       16777216 kB
        MemFree:        12582912 kB
        SwapTotal:             0 kB
        Zswap:             81920 kB
        Zswapped:         204800 kB

        """

    func memory() -> MemoryUsage {
        // zswap 4 MiB (4096 kB) compressed, standing for 10 MiB (10240 kB) of pages.
        let stat = MemoryStat(parsingV2: Array("anon 1048576\nzswap 4194304\nzswapped 10485760\nfile 0\n".utf8)[...])
        XCTAssertEqual(stat.zswap, 4_194_304)
        XCTAssertEqual(stat.zswapped, 10_485_760)
        return MemoryUsage(limit: 1 << 30, headroom: 1 << 29, usage: 1 << 29, stat: stat, swapLimit: nil, swapUsage: nil)
    }

    func lines(_ options: ViewOptions) -> [String] {
        let bytes = MeminfoRenderer.render(host: Array(host.utf8)[...], memory: memory(), options: options)
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
            .filter { $0.hasPrefix("Zswap") }
    }

    func testTheCgroupsZswapReplacesTheHosts() {
        XCTAssertEqual(lines(ViewOptions()), ["Zswap:              4096 kB", "Zswapped:          10240 kB"])
    }

    func testDisableZswapShowsZero() {
        XCTAssertEqual(lines(ViewOptions(disableZswap: true)), ["Zswap:                 0 kB", "Zswapped:              0 kB"])
    }
}
