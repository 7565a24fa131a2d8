#!/usr/bin/env python3
"""pose_render_reference.py — draws tests/fixtures/pose/render_pose.json the way ControlNet's
DWPose/OpenPose annotator draws poses (OpenCV: limbs as ellipse polygons 4 px wide at 60 %,
joints as radius-4 discs, hand edges as 2 px lines coloured round the HSV wheel with blue joints,
face points as radius-3 white discs, black background) and writes
tests/fixtures/pose/render_reference.png, which tests/unit/pipelines/test_pose_render.c compares
with our renderer. Written from the annotator's documented behaviour; fixture generation only
(Debian's python3-opencv), never used at run time.
Usage: python3 tools/pose_render_reference.py   (from the repository root)"""
import colorsys
import json
import math

import cv2
import numpy as np

COLORS = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0],
          [0, 255, 0], [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255],
          [0, 0, 255], [85, 0, 255], [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85]]
LIMBS = [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
         (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17)]
HAND_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10),
              (10, 11), (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18),
              (18, 19), (19, 20)]


def points(flat):
    return [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)]


def main():
    pose = json.load(open("tests/fixtures/pose/render_pose.json"))
    w, h = pose["canvas_width"], pose["canvas_height"]
    canvas = np.zeros((h, w, 3), np.uint8)
    people = pose["people"]
    for i, (a, b) in enumerate(LIMBS):
        for p in people:
            body = points(p["pose_keypoints_2d"])
            if body[a][2] <= 0 or body[b][2] <= 0:
                continue
            xs, ys = (body[a][0], body[b][0]), (body[a][1], body[b][1])
            length = math.hypot(xs[0] - xs[1], ys[0] - ys[1])
            angle = math.degrees(math.atan2(ys[0] - ys[1], xs[0] - xs[1]))
            poly = cv2.ellipse2Poly((int(np.mean(xs)), int(np.mean(ys))), (int(length / 2), 4),
                                    int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, poly, COLORS[i])
    canvas = (canvas * 0.6).astype(np.uint8)
    for i in range(18):
        for p in people:
            x, y, c = points(p["pose_keypoints_2d"])[i]
            if c > 0:
                cv2.circle(canvas, (int(x), int(y)), 4, COLORS[i], thickness=-1)
    for p in people:
        for key in ("hand_left_keypoints_2d", "hand_right_keypoints_2d"):
            pts = points(p[key])
            for e, (a, b) in enumerate(HAND_EDGES):
                if pts[a][2] > 0 and pts[b][2] > 0:
                    rgb = [v * 255 for v in colorsys.hsv_to_rgb(e / len(HAND_EDGES), 1.0, 1.0)]
                    cv2.line(canvas, (int(pts[a][0]), int(pts[a][1])), (int(pts[b][0]), int(pts[b][1])),
                             rgb, thickness=2)
            for x, y, c in pts:
                if c > 0:
                    cv2.circle(canvas, (int(x), int(y)), 4, (0, 0, 255), thickness=-1)
    for p in people:
        for x, y, c in points(p["face_keypoints_2d"]):
            if c > 0:
                cv2.circle(canvas, (int(x), int(y)), 3, (255, 255, 255), thickness=-1)
    cv2.imwrite("tests/fixtures/pose/render_reference.png", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
