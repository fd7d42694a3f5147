-- 64-byte UDP frames from 4 K clients x 64 K source ports to a UDP virtual service: every new
-- (client, port) makes a connection, later rounds hit established ones. The classic small-packet
-- forwarding test of an L4 balancer. Settings: common.lua.
package.path = package.path .. ";?.lua;pktgen-scripts/?.lua"
require "Pktgen"
require "common"

rvs.flows("udp", 64)
rvs.run("udp 64 B")
