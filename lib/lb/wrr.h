/* Weighted round robin by earliest deadline first, as Traefik's wrr.go: each
 * server i has a deadline; a pick pops the smallest, sets the current time to
 * it and pushes the server back at deadline + 1/weight. Servers that are not
 * available are advanced the same way and skipped. One state per worker: no
 * lock inside. Internal to lib/lb. */
#ifndef WH_LB_WRR_H
#define WH_LB_WRR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wh_lb_wrr {
  double cur;
  double *deadline; /* per server */
  uint32_t *heap;   /* server indexes, min-heap on (deadline, index) */
  uint32_t *seen;   /* per server: pick number at which it was last found unavailable */
  uint32_t gen;
  size_t n;
} wh_lb_wrr;

/* inv_weight[i] = 1/weight of server i (weight > 0); borrowed, must outlive
 * the state. Returns 0 or WH_ENOMEM. */
int wh_lb_wrr_init(wh_lb_wrr *w, const double *inv_weight, size_t n);
void wh_lb_wrr_free(wh_lb_wrr *w);

typedef bool (*wh_lb_wrr_avail_fn)(void *ctx, size_t server);

/* The next available server index, or -1 when none is (every server was
 * popped once and found unavailable during this pick). */
long wh_lb_wrr_next(wh_lb_wrr *w, const double *inv_weight, wh_lb_wrr_avail_fn avail, void *ctx);

#endif
