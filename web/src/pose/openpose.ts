// openpose.ts — the OpenPose JSON model used by the pose editor: parse untrusted files into a
// checked structure, write them back, the standard OpenPose/ControlNet limb table and colours,
// and the editing rule that a hand follows its wrist and the face follows the head.
// Body order (18, OpenPose COCO): 0 nose, 1 neck, 2 r-shoulder, 3 r-elbow, 4 r-wrist, 5 l-shoulder,
// 6 l-elbow, 7 l-wrist, 8 r-hip, 9 r-knee, 10 r-ankle, 11 l-hip, 12 l-knee, 13 l-ankle,
// 14 r-eye, 15 l-eye, 16 r-ear, 17 l-ear. A point with confidence 0 is absent.

export interface Kp { x: number; y: number; c: number }
export interface Person { body: Kp[]; face: Kp[]; left: Kp[]; right: Kp[] }
export interface Pose { width: number; height: number; people: Person[] }
export type Part = 'body' | 'face' | 'left' | 'right';

export const COUNTS: Record<Part, number> = { body: 18, face: 68, left: 21, right: 21 };
const KEYS: Record<Part, string> = {
  body: 'pose_keypoints_2d', face: 'face_keypoints_2d', left: 'hand_left_keypoints_2d', right: 'hand_right_keypoints_2d',
};
export const MAX_SIDE = 16384;
export const MAX_PEOPLE = 64;

export const BODY_NAMES = ['nose', 'neck', 'right shoulder', 'right elbow', 'right wrist', 'left shoulder', 'left elbow',
  'left wrist', 'right hip', 'right knee', 'right ankle', 'left hip', 'left knee', 'left ankle', 'right eye', 'left eye',
  'right ear', 'left ear'];

// Limbs as ControlNet's OpenPose renderer draws them (0-based), each with its colour.
export const LIMBS: Array<[number, number]> = [[1, 2], [1, 5], [2, 3], [3, 4], [5, 6], [6, 7], [1, 8], [8, 9], [9, 10],
  [1, 11], [11, 12], [12, 13], [1, 0], [0, 14], [14, 16], [0, 15], [15, 17]];
export const COLORS: Array<[number, number, number]> = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0],
  [170, 255, 0], [85, 255, 0], [0, 255, 0], [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255],
  [0, 0, 255], [85, 0, 255], [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85]];
export const HAND_EDGES: Array<[number, number]> = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8],
  [0, 9], [9, 10], [10, 11], [11, 12], [0, 13], [13, 14], [14, 15], [15, 16], [0, 17], [17, 18], [18, 19], [19, 20]];

export const rgb = (c: [number, number, number]) => `rgb(${c[0]},${c[1]},${c[2]})`;

/** Hand edge colour: hue spread over the edges, full saturation and value (as ControlNet). */
export function handEdgeColor(i: number): string {
  return `hsl(${(i / HAND_EDGES.length) * 360}, 100%, 50%)`;
}

export class PoseError extends Error {}

// BODY_25 (OpenPose's default body model: mid-hip at 8, feet at 19..24) index of each of the 18
// COCO-order points this editor uses; the server's reader maps BODY_25 files the same way.
const BODY25_TO_18 = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];

function readPoints(v: unknown, n: number, what: string, w: number, h: number): Kp[] {
  const empty = () => Array.from({ length: n }, () => ({ x: 0, y: 0, c: 0 }));
  if (v === undefined || v === null) return empty();
  if (!Array.isArray(v)) throw new PoseError(`${what} must be an array of numbers.`);
  if (v.length === 0) return empty();
  const body25 = n === 18 && v.length === 25 * 3;
  if (v.length !== n * 3 && !body25) throw new PoseError(`${what} has ${v.length} numbers; expected ${n * 3} (${n} points × x, y, confidence).`);
  const out: Kp[] = [];
  for (let i = 0; i < n; i++) {
    const s = body25 ? BODY25_TO_18[i] : i;
    const [x, y, c] = [v[3 * s], v[3 * s + 1], v[3 * s + 2]];
    if (![x, y, c].every((t) => typeof t === 'number' && Number.isFinite(t))) throw new PoseError(`${what}: point ${i} is not three numbers.`);
    out.push({ x: x as number, y: y as number, c: Math.max(0, Math.min(1, c as number)) });
  }
  // Some tools write coordinates normalised to 0..1; scale those to the canvas.
  const present = out.filter((p) => p.c > 0);
  if (present.length > 0 && present.every((p) => p.x >= 0 && p.x <= 1 && p.y >= 0 && p.y <= 1) && (w > 2 || h > 2)) {
    for (const p of out) { p.x *= w; p.y *= h; }
  }
  // Points may sit a little outside the canvas (editors allow it), not absurdly far: the same
  // bound as the server's reader, so a pose loaded here is one the server will render.
  const limX = 4 * w + 16, limY = 4 * h + 16;
  const far = out.findIndex((p) => Math.abs(p.x) > limX || Math.abs(p.y) > limY);
  if (far >= 0) throw new PoseError(`${what}: point ${far} is far outside the canvas.`);
  return out;
}

/** Parses an OpenPose JSON document (object or text). Throws PoseError with a clear reason. */
export function parsePose(input: unknown, fallbackSize?: { width: number; height: number }): Pose {
  let doc = input;
  if (typeof input === 'string') {
    if (input.length > 8 * 1024 * 1024) throw new PoseError('The pose file is larger than 8 MB.');
    try { doc = JSON.parse(input); } catch { throw new PoseError('The file is not valid JSON.'); }
  }
  if (Array.isArray(doc) && doc.length > 0) doc = doc[0]; // some editors save a list of frames
  if (!doc || typeof doc !== 'object') throw new PoseError('The pose must be a JSON object with "people".');
  const d = doc as Record<string, unknown>;
  const width = typeof d.canvas_width === 'number' ? d.canvas_width : fallbackSize?.width;
  const height = typeof d.canvas_height === 'number' ? d.canvas_height : fallbackSize?.height;
  if (!width || !height || !Number.isFinite(width) || !Number.isFinite(height) || width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
    throw new PoseError(`canvas_width and canvas_height must be numbers between 1 and ${MAX_SIDE}.`);
  }
  if (!Array.isArray(d.people)) throw new PoseError('The pose has no "people" array.');
  if (d.people.length > MAX_PEOPLE) throw new PoseError(`The pose has more than ${MAX_PEOPLE} people.`);
  const people = d.people.map((p, i) => {
    if (!p || typeof p !== 'object') throw new PoseError(`people[${i}] is not an object.`);
    const o = p as Record<string, unknown>;
    const person = {} as Person;
    for (const part of Object.keys(COUNTS) as Part[]) {
      person[part] = readPoints(o[KEYS[part]], COUNTS[part], `people[${i}].${KEYS[part]}`, width, height);
    }
    return person;
  });
  return { width: Math.round(width), height: Math.round(height), people };
}

/** Writes the OpenPose JSON object the rest of the team's tools read. */
export function toOpenPose(p: Pose): Record<string, unknown> {
  const flat = (pts: Kp[]) => pts.flatMap((k) => [round2(k.x), round2(k.y), round2(k.c)]);
  return {
    canvas_width: p.width, canvas_height: p.height,
    people: p.people.map((q) => ({
      pose_keypoints_2d: flat(q.body), face_keypoints_2d: flat(q.face),
      hand_left_keypoints_2d: flat(q.left), hand_right_keypoints_2d: flat(q.right),
    })),
  };
}
const round2 = (v: number) => Math.round(v * 100) / 100;

export function clonePose(p: Pose): Pose {
  return { width: p.width, height: p.height, people: p.people.map((q) => ({
    body: q.body.map((k) => ({ ...k })), face: q.face.map((k) => ({ ...k })),
    left: q.left.map((k) => ({ ...k })), right: q.right.map((k) => ({ ...k })) })) };
}

// Points that travel with a dragged body point: the hand with its wrist, the face (and eyes,
// ears) with the nose.
const FOLLOWERS: Record<number, Array<{ part: Part; index?: number }>> = {
  4: [{ part: 'right' }],
  7: [{ part: 'left' }],
  0: [{ part: 'face' }, { part: 'body', index: 14 }, { part: 'body', index: 15 }, { part: 'body', index: 16 }, { part: 'body', index: 17 }],
};

/** Moves one keypoint to (x, y), clamped to the canvas; followers move by the same offset. Returns a new pose. */
export function moveKeypoint(p: Pose, person: number, part: Part, index: number, x: number, y: number): Pose {
  const q = clonePose(p);
  const who = q.people[person];
  if (!who || !who[part][index]) return p;
  const k = who[part][index];
  const nx = Math.min(q.width, Math.max(0, x)), ny = Math.min(q.height, Math.max(0, y));
  const dx = nx - k.x, dy = ny - k.y;
  k.x = nx; k.y = ny;
  if (k.c === 0) k.c = 1;
  if (part === 'body') {
    for (const f of FOLLOWERS[index] ?? []) {
      const pts = f.index === undefined ? who[f.part] : [who[f.part][f.index]];
      for (const t of pts) if (t && t.c > 0) { t.x += dx; t.y += dy; }
    }
  }
  return q;
}

/** A standing figure to start from when there is no reference photo. */
export function defaultPose(width = 512, height = 768): Pose {
  const u = (fx: number, fy: number): Kp => ({ x: fx * width, y: fy * height, c: 1 });
  const body = [u(0.5, 0.16), u(0.5, 0.25), u(0.4, 0.25), u(0.36, 0.38), u(0.34, 0.5), u(0.6, 0.25), u(0.64, 0.38),
    u(0.66, 0.5), u(0.44, 0.52), u(0.44, 0.7), u(0.44, 0.88), u(0.56, 0.52), u(0.56, 0.7), u(0.56, 0.88),
    u(0.48, 0.14), u(0.52, 0.14), u(0.46, 0.15), u(0.54, 0.15)];
  // A relaxed open hand hanging from the wrist: palm then four joints per finger, fanned out.
  const hand = (wx: number, wy: number, dir: number): Kp[] => {
    const s = height / 768;
    const pts: Kp[] = [{ x: wx, y: wy, c: 1 }];
    for (let f = 0; f < 5; f++) {
      const ang = Math.PI / 2 + dir * (f - 2) * 0.22 + (f === 0 ? dir * -0.35 : 0);
      const seg = (f === 0 ? 7 : 8) * s;
      const start = (f === 0 ? 6 : 14) * s;
      for (let j = 0; j < 4; j++) {
        const r = start + seg * j;
        pts.push({ x: wx + Math.cos(ang) * r, y: wy + Math.sin(ang) * r, c: 1 });
      }
    }
    return pts;
  };
  const face: Kp[] = [];
  const cx = 0.5 * width, cy = 0.155 * height, rx = 0.045 * width, ry = 0.04 * height;
  for (let i = 0; i < 17; i++) { const a = Math.PI * (i / 16); face.push({ x: cx - rx * Math.cos(a), y: cy + ry * Math.sin(a) * 0.9, c: 1 }); }
  for (let i = 17; i < 68; i++) {
    const a = ((i - 17) / 51) * Math.PI * 2;
    face.push({ x: cx + rx * 0.55 * Math.cos(a), y: cy - ry * 0.1 + ry * 0.45 * Math.sin(a), c: 1 });
  }
  return { width, height, people: [{ body, face, left: hand(body[7].x, body[7].y, 1), right: hand(body[4].x, body[4].y, -1) }] };
}

/** Draws the pose on a 2D canvas in the standard OpenPose colours on black. */
export function drawPose(ctx: CanvasRenderingContext2D, p: Pose) {
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, p.width, p.height);
  const stick = 4;
  for (const q of p.people) {
    ctx.globalAlpha = 0.6;
    LIMBS.forEach(([a, b], i) => {
      const A = q.body[a], B = q.body[b];
      if (!A || !B || A.c === 0 || B.c === 0) return;
      const mx = (A.x + B.x) / 2, my = (A.y + B.y) / 2;
      const len = Math.hypot(A.x - B.x, A.y - B.y) / 2;
      ctx.beginPath();
      ctx.ellipse(mx, my, Math.max(len, 0.5), stick, Math.atan2(B.y - A.y, B.x - A.x), 0, Math.PI * 2);
      ctx.fillStyle = rgb(COLORS[i]);
      ctx.fill();
    });
    ctx.globalAlpha = 1;
    q.body.forEach((k, i) => {
      if (k.c === 0) return;
      ctx.beginPath(); ctx.arc(k.x, k.y, 4, 0, Math.PI * 2); ctx.fillStyle = rgb(COLORS[i]); ctx.fill();
    });
    for (const hand of [q.left, q.right]) {
      ctx.lineWidth = 2;
      HAND_EDGES.forEach(([a, b], i) => {
        const A = hand[a], B = hand[b];
        if (!A || !B || A.c === 0 || B.c === 0) return;
        ctx.beginPath(); ctx.moveTo(A.x, A.y); ctx.lineTo(B.x, B.y); ctx.strokeStyle = handEdgeColor(i); ctx.stroke();
      });
      for (const k of hand) if (k.c > 0) { ctx.beginPath(); ctx.arc(k.x, k.y, 4, 0, Math.PI * 2); ctx.fillStyle = 'rgb(0,0,255)'; ctx.fill(); }
    }
    for (const k of q.face) if (k.c > 0) { ctx.beginPath(); ctx.arc(k.x, k.y, 3, 0, Math.PI * 2); ctx.fillStyle = '#fff'; ctx.fill(); }
  }
}

/** Renders the pose to a PNG blob (for "export skeleton PNG"). */
export function poseToPng(p: Pose): Promise<Blob> {
  const c = document.createElement('canvas');
  c.width = p.width; c.height = p.height;
  const ctx = c.getContext('2d');
  if (!ctx) return Promise.reject(new Error('This browser cannot draw on a canvas.'));
  drawPose(ctx, p);
  return new Promise((res, rej) => c.toBlob((b) => (b ? res(b) : rej(new Error('Could not encode the PNG.'))), 'image/png'));
}

export function downloadBlob(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url; a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** True when v has exactly the shape of a Pose (used to trust a value read back from storage). */
export function isPose(v: unknown): v is Pose {
  if (!v || typeof v !== 'object') return false;
  const p = v as Pose;
  const okNum = (n: unknown) => typeof n === 'number' && Number.isFinite(n);
  if (!okNum(p.width) || !okNum(p.height) || p.width < 1 || p.height < 1 || p.width > MAX_SIDE || p.height > MAX_SIDE) return false;
  if (!Array.isArray(p.people) || p.people.length > MAX_PEOPLE) return false;
  return p.people.every((q) => q && typeof q === 'object' && (Object.keys(COUNTS) as Part[]).every((part) =>
    Array.isArray(q[part]) && q[part].length === COUNTS[part] && q[part].every((k) => k && okNum(k.x) && okNum(k.y) && okNum(k.c))));
}
export const isPoseOrNull = (v: unknown): v is Pose | null => v === null || isPose(v);

// Where to put a body point the artist adds by hand: beside a neighbour that is present.
const NEIGHBOUR: number[] = [1, 0, 1, 2, 3, 1, 5, 6, 1, 8, 9, 1, 11, 12, 0, 0, 14, 15];

/** Adds a missing body point near its neighbour (or the canvas centre). Returns a new pose. */
export function addBodyPoint(p: Pose, person: number, index: number): Pose {
  const q = clonePose(p);
  const who = q.people[person];
  if (!who || !who.body[index] || who.body[index].c > 0) return p;
  const n = who.body[NEIGHBOUR[index]];
  const step = Math.min(q.width, q.height) * 0.08;
  const [x, y] = n && n.c > 0 ? [n.x + (index % 2 ? step : -step) * 0.5, n.y + step] : [q.width / 2, q.height / 2];
  who.body[index] = { x: Math.min(q.width, Math.max(0, x)), y: Math.min(q.height, Math.max(0, y)), c: 1 };
  return q;
}

/** Adds a standing figure (sized to the canvas) as a new person. */
export function addPerson(p: Pose): Pose {
  if (p.people.length >= MAX_PEOPLE) return p;
  const fig = defaultPose(p.width, p.height).people[0];
  return { ...clonePose(p), people: [...clonePose(p).people, fig] };
}

export function removePerson(p: Pose, person: number): Pose {
  const q = clonePose(p);
  q.people.splice(person, 1);
  return q;
}
