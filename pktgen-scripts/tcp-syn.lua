-- A SYN flood at a TCP virtual service: every frame a SYN from a new (client, port), so every
-- frame makes rvsd schedule and create a connection: the new-connections-per-second test.
-- TCP flags in range mode need Pktgen-DPDK 21.x or later (`range <port> tcp_flags set syn`).
-- Point RVS_VPORT at the TCP service (e.g. 80). Settings: common.lua.
package.path = package.path .. ";?.lua;pktgen-scripts/?.lua"
require "Pktgen"
require "common"

rvs.flows("tcp", 64)
pktgen.range.tcp_flags(rvs.port, "set", "syn")
pktgen.range.tcp_flags(rvs.port, "clr", "ack")
rvs.run("tcp SYN flood")
