-- Shared settings of rvs's Pktgen-DPDK scripts. Edit these for your bench, or set them in the
-- environment (RVS_*) before starting pktgen; every script reads them from here.
--
--   generator port 0 --wire-- rvsd's client-side port (the VIP's network)
--
-- The generator plays many clients behind one router: destination MAC = rvsd's port MAC,
-- destination IP = the VIP; source addresses walk a range so rvsd sees many flows.

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

rvs = {
  port       = env("RVS_PORT", "0"),                       -- pktgen port number
  dst_mac    = env("RVS_DST_MAC", "02:00:00:00:00:01"),    -- rvsd's port MAC
  src_mac    = env("RVS_SRC_MAC", "02:00:00:00:00:fe"),    -- the generator's MAC (the "router")
  vip        = env("RVS_VIP", "198.18.0.100"),             -- the virtual service's address
  vport      = tonumber(env("RVS_VPORT", "53")),           -- its port
  src_first  = env("RVS_SRC_FIRST", "100.64.0.1"),         -- first client address
  src_last   = env("RVS_SRC_LAST", "100.64.15.254"),       -- last client address (4 K clients)
  sport_min  = tonumber(env("RVS_SPORT_MIN", "1024")),
  sport_max  = tonumber(env("RVS_SPORT_MAX", "65535")),
  rate       = tonumber(env("RVS_RATE", "100")),           -- per cent of line rate
  seconds    = tonumber(env("RVS_SECONDS", "30")),
}

-- Client address range and source-port range: every packet a new (address, port) pair until
-- the ranges wrap, so rvsd's connection table holds (addresses x ports) flows.
function rvs.flows(proto, size)
  local p = rvs.port
  pktgen.range.dst_mac(p, "start", rvs.dst_mac)
  pktgen.range.src_mac(p, "start", rvs.src_mac)
  pktgen.range.dst_ip(p, "start", rvs.vip)
  pktgen.range.dst_ip(p, "inc", "0.0.0.0")
  pktgen.range.dst_ip(p, "min", rvs.vip)
  pktgen.range.dst_ip(p, "max", rvs.vip)
  pktgen.range.src_ip(p, "start", rvs.src_first)
  pktgen.range.src_ip(p, "inc", "0.0.0.1")
  pktgen.range.src_ip(p, "min", rvs.src_first)
  pktgen.range.src_ip(p, "max", rvs.src_last)
  pktgen.range.dst_port(p, "start", rvs.vport)
  pktgen.range.dst_port(p, "inc", 0)
  pktgen.range.dst_port(p, "min", rvs.vport)
  pktgen.range.dst_port(p, "max", rvs.vport)
  pktgen.range.src_port(p, "start", rvs.sport_min)
  pktgen.range.src_port(p, "inc", 1)
  pktgen.range.src_port(p, "min", rvs.sport_min)
  pktgen.range.src_port(p, "max", rvs.sport_max)
  pktgen.range.ip_proto(p, proto)
  pktgen.range.pkt_size(p, "start", size)
  pktgen.range.pkt_size(p, "inc", 0)
  pktgen.range.pkt_size(p, "min", size)
  pktgen.range.pkt_size(p, "max", size)
  pktgen.set_range(p, "on")
end

-- Sends for rvs.seconds at rvs.rate, then prints what the port sent and received.
function rvs.run(label)
  local p = rvs.port
  pktgen.set(p, "rate", rvs.rate)
  pktgen.clr()
  printf("rvs: %s: %d s at %d%% of line rate to %s:%d\n", label, rvs.seconds, rvs.rate, rvs.vip, rvs.vport)
  pktgen.start(p)
  pktgen.delay(rvs.seconds * 1000)
  pktgen.stop(p)
  pktgen.delay(1000)
  local s = pktgen.portStats(p, "port")[tonumber(p)]
  printf("rvs: %s: sent %d packets, received %d (rvsd's counters: rvsadm -L -n --stats)\n",
    label, s.opackets, s.ipackets)
end
