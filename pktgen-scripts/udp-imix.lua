-- Simple IMIX (64, 594 and 1518-byte frames as 7:4:1) of UDP to the virtual service, through
-- pktgen's sequence table: 12 sequences in IMIX proportion, each from its own client range
-- start, source ports walking. Settings: common.lua.
package.path = package.path .. ";?.lua;pktgen-scripts/?.lua"
require "Pktgen"
require "common"

local sizes = { 64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 64, 594 }
local p = rvs.port
pktgen.set(p, "seq_cnt", #sizes)
for i, size in ipairs(sizes) do
  pktgen.seqTable(i - 1, p, {
    ["eth_dst_addr"] = rvs.dst_mac,
    ["eth_src_addr"] = rvs.src_mac,
    ["ip_dst_addr"] = rvs.vip,
    ["ip_src_addr"] = "100.64." .. (16 + i) .. ".1/16",
    ["dport"] = rvs.vport,
    ["sport"] = rvs.sport_min + i,
    ["ethType"] = "ipv4",
    ["ipProto"] = "udp",
    ["vlanid"] = 1,
    ["pktSize"] = size,
  })
end
rvs.run("udp IMIX")
