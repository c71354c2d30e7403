#include "lib/lb/wrr.h"

#include <stdlib.h>

#include "lib/core/err.h"

static bool before(const wh_lb_wrr *w, uint32_t a, uint32_t b) {
  if (w->deadline[a] != w->deadline[b])
    return w->deadline[a] < w->deadline[b];
  return a < b;
}

static void sift_down(wh_lb_wrr *w, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < w->n && before(w, w->heap[l], w->heap[m]))
      m = l;
    if (r < w->n && before(w, w->heap[r], w->heap[m]))
      m = r;
    if (m == i)
      return;
    uint32_t t = w->heap[i];
    w->heap[i] = w->heap[m];
    w->heap[m] = t;
    i = m;
  }
}

int wh_lb_wrr_init(wh_lb_wrr *w, const double *inv_weight, size_t n) {
  w->cur = 0;
  w->gen = 0;
  w->n = n;
  w->deadline = calloc(n ? n : 1, sizeof(*w->deadline));
  w->heap = calloc(n ? n : 1, sizeof(*w->heap));
  w->seen = calloc(n ? n : 1, sizeof(*w->seen));
  if (!w->deadline || !w->heap || !w->seen) {
    wh_lb_wrr_free(w);
    return WH_ENOMEM;
  }
  /* Servers are added in (shuffled) order at deadline cur + 1/w, as wrr.go's
   * Add does with cur = 0. */
  for (size_t i = 0; i < n; i++) {
    w->deadline[i] = inv_weight[i];
    w->heap[i] = (uint32_t)i;
  }
  for (size_t i = n / 2; i-- > 0;)
    sift_down(w, i);
  return 0;
}

void wh_lb_wrr_free(wh_lb_wrr *w) {
  free(w->deadline);
  free(w->heap);
  free(w->seen);
  w->deadline = NULL;
  w->heap = NULL;
  w->seen = NULL;
  w->n = 0;
}

long wh_lb_wrr_next(wh_lb_wrr *w, const double *inv_weight, wh_lb_wrr_avail_fn avail, void *ctx) {
  if (w->n == 0)
    return -1;
  /* A fresh stamp per pick marks servers found unavailable; once all are
   * marked the pick gives up. Every server is eventually popped (deadlines
   * grow), so this terminates even with very uneven weights. */
  if (++w->gen == 0) {
    for (size_t i = 0; i < w->n; i++)
      w->seen[i] = 0;
    w->gen = 1;
  }
  size_t unavailable = 0;
  for (;;) {
    uint32_t s = w->heap[0];
    w->cur = w->deadline[s];
    w->deadline[s] += inv_weight[s];
    sift_down(w, 0);
    if (!avail || avail(ctx, s))
      return (long)s;
    if (w->seen[s] != w->gen) {
      w->seen[s] = w->gen;
      if (++unavailable == w->n)
        return -1;
    }
  }
}
