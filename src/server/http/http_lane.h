/* http_lane.h — a small pool of threads for request handlers that may take long (password
 * hashing, storing an upload), so they never hold one of the daemon's I/O threads. The
 * connection is suspended while its handler runs here and resumed when it is done
 * (http.c). The queue is bounded: a full lane is a 503 at once. */
#ifndef OMA_SERVER_HTTP_LANE_H
#define OMA_SERVER_HTTP_LANE_H

typedef struct oma_lane oma_lane;

/* NULL when out of memory or threads. */
oma_lane *oma_lane_start(int threads, int queue_max);
/* 0 queued, -1 the queue is full (or the lane is closed). fn runs on a lane thread;
 * admitted (may be NULL) runs first, in the caller, only when the job is taken, and before a
 * lane thread can start it (http.c suspends the connection there). */
int oma_lane_submit(oma_lane *l, void (*fn)(void *), void *arg, void (*admitted)(void *));
/* Refuses new jobs from now on and waits until nothing is queued or running. */
void oma_lane_close(oma_lane *l);
/* Closes, then ends the threads and frees the lane. */
void oma_lane_stop(oma_lane *l);

#endif
