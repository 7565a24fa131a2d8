/* bench_pose_common.h — what the pose benchmarks (bench_pose, bench_pose_people,
 * bench_dwpose_people) share: the clock (bench_common.h), sorting a run's times for best and
 * median, loading the test photo with the fetch hint, and the 512x512 sheets of 1x1, 2x1, 2x2
 * and 3x3 copies of it that the people benchmarks time. Header-only (static inline), since each
 * bench_*.c is its own program. */
#ifndef OMA_BENCH_POSE_COMMON_H
#define OMA_BENCH_POSE_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "formats/image.h"

#define POSE_PHOTO "tests/data/pose/astronaut.png"

/* Sheet l's layout (0 <= l < POSE_SHEETS): {cols, rows}. */
#define POSE_SHEETS 4
static inline const int *pose_sheet_layout(int l)
{
    static const int layout[POSE_SHEETS][2] = {{1, 1}, {2, 1}, {2, 2}, {3, 3}};
    return layout[l];
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts n run times ascending: t[0] the best, t[n / 2] the median. */
static inline void sort_times(double *t, int n) { qsort(t, (size_t)n, sizeof t[0], cmp_double); }

/* Loads path as RGB; on failure says so (prog: the program's name) with the fetch hint. */
static inline int load_photo(const char *prog, const char *path, oma_image *out)
{
    char err[512];
    if (oma_image_load(path, 3, NULL, out, err, sizeof err) == 0) return 0;
    fprintf(stderr, "%s: %s: %s (run scripts/fetch-test-data.sh, or pass an image)\n", prog, path, err);
    return -1;
}

/* A 512x512 sheet of cols x rows copies of ph (nearest-neighbour into each cell); when boxes
 * is not NULL, the cells' boxes (x1, y1, x2, y2) into it. */
static inline int pose_sheet(const oma_image *ph, int cols, int rows, oma_image *out, float *boxes)
{
    if (oma_image_alloc(out, 512, 512, 3)) return -1;
    memset(out->px, 255, (size_t)512 * 512 * 3);
    int cw = 512 / cols, ch = 512 / rows;
    for (int t = 0; t < cols * rows; t++) {
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++)
                memcpy(out->px + ((size_t)((t / cols) * ch + y) * 512 + (size_t)((t % cols) * cw + x)) * 3,
                       ph->px + ((size_t)(y * ph->h / ch) * (size_t)ph->w + (size_t)(x * ph->w / cw)) * 3, 3);
        if (boxes) {
            boxes[4 * t] = (float)((t % cols) * cw);
            boxes[4 * t + 1] = (float)((t / cols) * ch);
            boxes[4 * t + 2] = (float)((t % cols) * cw + cw);
            boxes[4 * t + 3] = (float)((t / cols) * ch + ch);
        }
    }
    return 0;
}

#endif
