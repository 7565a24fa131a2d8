// PoseEditor.tsx — the skeleton drawn in SVG over the reference image, with every keypoint
// draggable (pointer events, so mouse, pen and touch all work). Dragging a wrist carries its
// hand and dragging the nose carries the face (see moveKeypoint). An optional "ghost" pose
// (e.g. the detected one) is drawn faintly underneath for comparison. The last point touched
// stays selected: arrow keys nudge it by 1 px (Shift: 10 px) for precise placement.
import { useRef, useState, type KeyboardEvent, type PointerEvent } from 'react';
import { BODY_NAMES, COLORS, HAND_EDGES, LIMBS, handEdgeColor, moveKeypoint, rgb, type Part, type Pose } from './openpose';

interface Props {
  pose: Pose;
  onChange: (p: Pose) => void;
  imageUrl?: string | null;
  imageOpacity?: number;
  ghost?: Pose | null;
  showFace?: boolean;
  showHands?: boolean;
  onEditStart?: () => void;   // called once before each drag or nudge (for undo)
}

interface Drag { person: number; part: Part; index: number; pointer: number }

function Skeleton({ pose, faint, showHands }: { pose: Pose; faint?: boolean; showHands: boolean }) {
  const sw = Math.max(2, Math.min(pose.width, pose.height) / 110);
  return (
    <g opacity={faint ? 0.35 : 1} pointerEvents="none">
      {pose.people.map((q, pi) => (
        <g key={pi}>
          {LIMBS.map(([a, b], i) => {
            const A = q.body[a], B = q.body[b];
            if (A.c === 0 || B.c === 0) return null;
            return <line key={i} x1={A.x} y1={A.y} x2={B.x} y2={B.y} stroke={rgb(COLORS[i])} strokeWidth={sw * 1.6} strokeOpacity={0.75} strokeLinecap="round" />;
          })}
          {showHands && [q.left, q.right].map((h, hi) => HAND_EDGES.map(([a, b], i) => (h[a].c > 0 && h[b].c > 0
            ? <line key={hi + '-' + i} x1={h[a].x} y1={h[a].y} x2={h[b].x} y2={h[b].y} stroke={handEdgeColor(i)} strokeWidth={sw * 0.6} /> : null)))}
        </g>
      ))}
    </g>
  );
}

export function PoseEditor({ pose, onChange, imageUrl, imageOpacity = 0.6, ghost, showFace = true, showHands = true, onEditStart }: Props) {
  const svg = useRef<SVGSVGElement>(null);
  const [drag, setDrag] = useState<Drag | null>(null);
  const [hover, setHover] = useState<string | null>(null);
  const [selected, setSelected] = useState<{ person: number; part: Part; index: number; label: string } | null>(null);
  const r = Math.max(3, Math.min(pose.width, pose.height) / 90);

  const toSvg = (e: PointerEvent): { x: number; y: number } | null => {
    const el = svg.current;
    const m = el?.getScreenCTM();
    if (!el || !m) return null;
    const pt = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
    return { x: pt.x, y: pt.y };
  };

  const down = (e: PointerEvent<SVGCircleElement>, person: number, part: Part, index: number, label: string) => {
    e.preventDefault();
    e.stopPropagation();
    onEditStart?.();
    setSelected({ person, part, index, label });
    svg.current?.focus({ preventScroll: true });
    (e.currentTarget as Element).setPointerCapture?.(e.pointerId);
    setDrag({ person, part, index, pointer: e.pointerId });
  };
  const move = (e: PointerEvent<SVGSVGElement>) => {
    if (!drag || e.pointerId !== drag.pointer) return;
    const p = toSvg(e);
    if (p) onChange(moveKeypoint(pose, drag.person, drag.part, drag.index, p.x, p.y));
  };
  const up = () => setDrag(null);
  const key = (e: KeyboardEvent<SVGSVGElement>) => {
    const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
    if (!d || !selected) return;
    const k = pose.people[selected.person]?.[selected.part]?.[selected.index];
    if (!k) return;
    e.preventDefault();
    const step = e.shiftKey ? 10 : 1;
    onEditStart?.();
    onChange(moveKeypoint(pose, selected.person, selected.part, selected.index, k.x + d[0] * step, k.y + d[1] * step));
  };

  const handle = (person: number, part: Part, index: number, x: number, y: number, fill: string, rad: number, label: string) => (
    <circle key={`${person}-${part}-${index}`} cx={x} cy={y} r={rad} fill={fill} stroke="#111" strokeWidth={rad * 0.25}
            className={'kp' + (drag && drag.person === person && drag.part === part && drag.index === index ? ' dragging' : '')
              + (selected && selected.person === person && selected.part === part && selected.index === index ? ' selected' : '')}
            data-kp={`${person}:${part}:${index}`}
            onPointerDown={(e) => down(e, person, part, index, label)}
            onPointerEnter={() => setHover(label)} onPointerLeave={() => setHover(null)}>
      <title>{label}</title>
    </circle>
  );

  return (
    <div className="pose-editor">
      <svg ref={svg} viewBox={`0 0 ${pose.width} ${pose.height}`} data-testid="pose-svg"
           onPointerMove={move} onPointerUp={up} onPointerCancel={up} onKeyDown={key} tabIndex={0}
           aria-label="Pose editor: drag points; arrow keys nudge the selected point" style={{ touchAction: 'none' }}>
        <rect x={0} y={0} width={pose.width} height={pose.height} fill="#111" />
        {imageUrl && <image href={imageUrl} x={0} y={0} width={pose.width} height={pose.height} opacity={imageOpacity} preserveAspectRatio="none" />}
        {ghost && <Skeleton pose={ghost} faint showHands={showHands} />}
        <Skeleton pose={pose} showHands={showHands} />
        {pose.people.map((q, pi) => (
          <g key={pi}>
            {showFace && q.face.map((k, i) => (k.c > 0 ? handle(pi, 'face', i, k.x, k.y, '#fff', r * 0.45, `face ${i}`) : null))}
            {showHands && q.left.map((k, i) => (k.c > 0 && i > 0 ? handle(pi, 'left', i, k.x, k.y, '#2b59ff', r * 0.55, `left hand ${i}`) : null))}
            {showHands && q.right.map((k, i) => (k.c > 0 && i > 0 ? handle(pi, 'right', i, k.x, k.y, '#2b59ff', r * 0.55, `right hand ${i}`) : null))}
            {q.body.map((k, i) => (k.c > 0 ? handle(pi, 'body', i, k.x, k.y, rgb(COLORS[i]), r, `${BODY_NAMES[i]}${pose.people.length > 1 ? ` (person ${pi + 1})` : ''}`) : null))}
          </g>
        ))}
      </svg>
      <div className="muted small hover-label">{hover ?? (selected ? `Selected: ${selected.label} — arrow keys nudge it (Shift: 10 px).`
        : 'Drag a point to move it. Wrists carry their hands; the nose carries the face.')}</div>
    </div>
  );
}
