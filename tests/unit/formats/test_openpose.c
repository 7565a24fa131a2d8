/* test_openpose.c — OpenPose JSON reading/writing and the WholeBody mapping: round trips,
 * the neck rule, BODY_25 and 70-point faces, and every kind of malformed file refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/openpose.h"

static char *points_text(int n, float base)
{
    char *s = malloc((size_t)n * 64 + 8);
    assert_non_null(s);
    size_t off = 0;
    off += (size_t)sprintf(s + off, "[");
    for (int i = 0; i < n; i++)
        off += (size_t)sprintf(s + off, "%s%g,%g,%g", i ? "," : "", base + i, base + 2 * i, 0.5);
    sprintf(s + off, "]");
    return s;
}

static void test_roundtrip(void **state)
{
    (void)state;
    oma_pose p;
    assert_int_equal(oma_pose_init(&p, 640, 480, 2), 0);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < OMA_OP_BODY; k++)
            p.people[i].body[k] = (oma_kp){10.0f * k + i, 5.0f * k, 0.9f};
        p.people[i].body[3].c = 0;   /* absent */
        for (int k = 0; k < OMA_OP_HAND; k++) p.people[i].lhand[k] = (oma_kp){1.5f * k, 2, 1};
        for (int k = 0; k < OMA_OP_FACE; k++) p.people[i].face[k] = (oma_kp){100 + k, 50, 0.7f};
    }
    json_t *j = oma_pose_to_json(&p, 1);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(json_array_get(json_object_get(j, "people"), 0),
                                                     "pose_keypoints_2d")), 54);
    char *txt = json_dumps(j, JSON_COMPACT);
    assert_non_null(txt);
    oma_pose q;
    char err[256] = "";
    assert_int_equal(oma_pose_parse(txt, strlen(txt), 0, 0, &q, err, sizeof err), 0);
    assert_int_equal(q.canvas_w, 640);
    assert_int_equal(q.canvas_h, 480);
    assert_int_equal(q.n_people, 2);
    assert_float_equal(q.people[1].body[5].x, 51, 1e-3);
    assert_float_equal(q.people[1].body[5].y, 25, 1e-3);
    assert_float_equal(q.people[1].body[3].c, 0, 0);
    assert_float_equal(q.people[1].body[3].x, 0, 0);   /* absent written as 0,0,0 */
    assert_float_equal(q.people[0].lhand[20].x, 30, 1e-3);
    assert_float_equal(q.people[0].face[67].x, 167, 1e-3);
    assert_float_equal(q.people[0].rhand[0].c, 0, 0);   /* was absent */
    free(txt);
    json_decref(j);
    oma_pose_free(&q);
    oma_pose_free(&p);
}

static void test_wholebody_mapping(void **state)
{
    (void)state;
    oma_kp wb[OMA_WB_POINTS];
    for (int i = 0; i < OMA_WB_POINTS; i++) wb[i] = (oma_kp){(float)i, (float)(1000 + i), 0.5f};
    wb[5] = (oma_kp){100, 200, 0.8f};   /* left shoulder */
    wb[6] = (oma_kp){50, 220, 0.6f};    /* right shoulder */
    oma_pose_person p;
    oma_pose_person_from_wholebody(wb, &p);
    assert_float_equal(p.body[0].x, 0, 0);      /* nose */
    assert_float_equal(p.body[1].x, 75, 1e-6);  /* neck = shoulder midpoint */
    assert_float_equal(p.body[1].y, 210, 1e-6);
    assert_float_equal(p.body[1].c, 0.6f, 1e-6);
    assert_float_equal(p.body[2].x, 50, 0);     /* r shoulder = coco 6 */
    assert_float_equal(p.body[4].x, 10, 0);     /* r wrist = coco 10 */
    assert_float_equal(p.body[7].x, 9, 0);      /* l wrist = coco 9 */
    assert_float_equal(p.body[8].x, 12, 0);     /* r hip = coco 12 */
    assert_float_equal(p.body[13].x, 15, 0);    /* l ankle = coco 15 */
    assert_float_equal(p.body[14].x, 2, 0);     /* r eye = coco 2 */
    assert_float_equal(p.body[17].x, 3, 0);     /* l ear = coco 3 */
    assert_float_equal(p.face[0].x, 23, 0);
    assert_float_equal(p.lhand[0].x, 91, 0);
    assert_float_equal(p.rhand[20].x, 132, 0);
    oma_kp back[OMA_WB_POINTS];
    oma_pose_person_to_wholebody(&p, back);
    for (int i = 0; i < 17; i++) assert_float_equal(back[i].x, wb[i].x, 0);
    for (int i = 17; i < 23; i++) assert_float_equal(back[i].c, 0, 0);   /* feet unknown */
    for (int i = 23; i < OMA_WB_POINTS; i++) assert_float_equal(back[i].y, wb[i].y, 0);
    wb[6].c = 0;   /* one shoulder missing -> no neck */
    oma_pose_person_from_wholebody(wb, &p);
    assert_true(p.body[1].c <= 0);

    json_t *j = oma_pose_wholebody_json(10, 20, wb, 1);
    assert_non_null(j);
    json_t *k = json_object_get(json_array_get(json_object_get(j, "people"), 0), "keypoints");
    assert_int_equal(json_array_size(k), 133);
    assert_float_equal(json_real_value(json_array_get(json_array_get(k, 132), 0)), 132, 1e-9);
    json_decref(j);
}

static void test_variants(void **state)
{
    (void)state;
    char err[256] = "";
    oma_pose p;
    /* BODY_25 reduced to 18; 70-point face; list of frames; canvas from defaults. */
    char *b25 = points_text(25, 0), *f70 = points_text(70, 0);
    char *txt = malloc(strlen(b25) + strlen(f70) + 256);
    assert_non_null(txt);
    sprintf(txt, "[{\"people\":[{\"pose_keypoints_2d\":%s,\"face_keypoints_2d\":%s}]}]", b25, f70);
    assert_int_equal(oma_pose_parse(txt, strlen(txt), 0, 0, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "canvas_width"));
    assert_int_equal(oma_pose_parse(txt, strlen(txt), 300, 200, &p, err, sizeof err), 0);
    assert_int_equal(p.canvas_w, 300);
    assert_float_equal(p.people[0].body[7].x, 7, 0);
    assert_float_equal(p.people[0].body[8].x, 9, 0);    /* r hip: BODY_25 index 9 */
    assert_float_equal(p.people[0].body[17].x, 18, 0);
    assert_float_equal(p.people[0].face[67].x, 67, 0);
    assert_float_equal(p.people[0].lhand[0].c, 0, 0);
    oma_pose_free(&p);
    free(txt);
    free(b25);
    free(f70);
    /* No people is fine. */
    const char *empty = "{\"canvas_width\":64,\"canvas_height\":32,\"people\":[]}";
    assert_int_equal(oma_pose_parse(empty, strlen(empty), 0, 0, &p, err, sizeof err), 0);
    assert_int_equal(p.n_people, 0);
    oma_pose_free(&p);
}

static void expect_bad(const char *txt, const char *needle)
{
    oma_pose p;
    char err[256] = "";
    assert_int_equal(oma_pose_parse(txt, strlen(txt), 0, 0, &p, err, sizeof err), -1);
    if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s' for %s", err, needle, txt);
    assert_null(p.people);
}

static void test_bad(void **state)
{
    (void)state;
    expect_bad("", "empty");
    expect_bad("{", "invalid JSON");
    expect_bad("42", "expected an object");
    expect_bad("[]", "empty list");
    expect_bad("{\"canvas_width\":0,\"canvas_height\":10}", "canvas_width");
    expect_bad("{\"canvas_width\":10.5,\"canvas_height\":10}", "canvas_width");
    expect_bad("{\"canvas_width\":99999,\"canvas_height\":10}", "canvas_width");
    expect_bad("{\"canvas_width\":\"10\",\"canvas_height\":10}", "canvas_width");
    expect_bad("{\"canvas_width\":10,\"canvas_height\":10,\"people\":{}}", "people");
    expect_bad("{\"canvas_width\":10,\"canvas_height\":10,\"people\":[3]}", "person 0");
    expect_bad("{\"canvas_width\":10,\"canvas_height\":10,\"people\":[{\"pose_keypoints_2d\":[1,2,3]}]}",
               "pose_keypoints_2d has 3");
    expect_bad("{\"canvas_width\":10,\"canvas_height\":10,\"people\":[{\"pose_keypoints_2d\":\"x\"}]}",
               "not an array");
    expect_bad("{\"canvas_width\":10,\"canvas_height\":10,\"people\":[{\"hand_left_keypoints_2d\":[1,2,3]}]}",
               "hand_left_keypoints_2d has 3");
    expect_bad("{\"canvas_width\":10,\"canvas_height\":10,\"a\":1,\"a\":2}", "invalid JSON");
    /* A string inside the numbers, and a point absurdly far away. */
    char *pts = points_text(18, 0);
    char *txt = malloc(strlen(pts) + 128);
    assert_non_null(txt);
    sprintf(txt, "{\"canvas_width\":10,\"canvas_height\":10,\"people\":[{\"pose_keypoints_2d\":%s}]}", pts);
    oma_pose p;
    char err[256];
    assert_int_equal(oma_pose_parse(txt, strlen(txt), 0, 0, &p, err, sizeof err), 0);
    assert_float_equal(p.people[0].body[17].y, 34, 0);
    oma_pose_free(&p);
    char *firstnum = strstr(txt, "[0,");
    assert_non_null(firstnum);
    firstnum[1] = 'x';
    expect_bad(txt, "invalid JSON");
    free(txt);
    free(pts);
    expect_bad("{\"canvas_width\":10,\"canvas_height\":10,\"people\":[{\"hand_left_keypoints_2d\":"
               "[\"a\",0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
               "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}",
               "not a number");
    expect_bad("{\"canvas_width\":10,\"canvas_height\":10,\"people\":[{\"hand_left_keypoints_2d\":"
               "[1e9,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
               "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}",
               "far outside");
    /* Too many people. */
    size_t cap = 100000;
    char *big = malloc(cap);
    assert_non_null(big);
    size_t off = (size_t)sprintf(big, "{\"canvas_width\":10,\"canvas_height\":10,\"people\":[");
    for (int i = 0; i < OMA_POSE_MAX_PEOPLE + 1; i++) off += (size_t)sprintf(big + off, "%s{}", i ? "," : "");
    sprintf(big + off, "]}");
    expect_bad(big, "too many people");
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_wholebody_mapping),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
