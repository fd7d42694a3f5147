/* The DPDK API rvs uses, plus real symbols for its static-inline fast-path calls. */
#ifndef RVS_DPDK_SHIM_H
#define RVS_DPDK_SHIM_H

#include <rte_config.h>
#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_dev.h>
#include <rte_bus.h>

uint16_t rvs_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t rvs_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

struct rte_mbuf *rvs_pktmbuf_alloc(struct rte_mempool *mp);
int rvs_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n);
void rvs_pktmbuf_free(struct rte_mbuf *m);
void rvs_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned n);

/* Data access: first segment's data pointer and lengths. */
uint8_t *rvs_pktmbuf_data(struct rte_mbuf *m);
uint16_t rvs_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t rvs_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t rvs_pktmbuf_nb_segs(const struct rte_mbuf *m);
uint16_t rvs_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t rvs_pktmbuf_tailroom(const struct rte_mbuf *m);
uint16_t rvs_pktmbuf_port(const struct rte_mbuf *m);
uint32_t rvs_pktmbuf_rss_hash(const struct rte_mbuf *m);

/* Length changes; NULL / -1 when there is not enough room. */
uint8_t *rvs_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
uint8_t *rvs_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
uint8_t *rvs_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int rvs_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
int rvs_pktmbuf_linearize(struct rte_mbuf *m);

int rvs_errno(void);
unsigned rvs_lcore_id(void);
uint64_t rvs_rdtsc(void);
void rvs_pause(void);
void rvs_prefetch0(const void *p);

#endif
