// ImagePicker.tsx — choose image file(s); each is uploaded at once (POST /api/uploads) so a
// bad file is reported right there, by name, with the server's reason. Uploaded images show as
// thumbnails that can be removed. The parent gets the list of successful uploads.
import { useRef, useState } from 'react';
import { api, errorText, type Upload } from '../api';

export const IMAGE_TYPES = 'image/png,image/jpeg,image/webp';
const MAX_BYTES = 20 * 1024 * 1024;

interface Props {
  label: string;
  multiple?: boolean;
  max?: number;
  uploads: Upload[];
  onChange: (uploads: Upload[]) => void;
  testId?: string;
}

export function ImagePicker({ label, multiple = false, max = 50, uploads, onChange, testId }: Props) {
  const input = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(0);
  const [errors, setErrors] = useState<string[]>([]);

  const pick = async (files: FileList | null) => {
    if (!files || files.length === 0) return;
    const list = Array.from(files).slice(0, multiple ? Math.max(0, max - uploads.length) : 1);
    const errs: string[] = [];
    if (multiple && files.length > list.length) errs.push(`Only ${max} images fit here; the rest were skipped.`);
    setBusy(list.length);
    let next = multiple ? [...uploads] : [];
    for (const f of list) {
      if (f.size > MAX_BYTES) { errs.push(`${f.name}: larger than 20 MB.`); setBusy((b) => b - 1); continue; }
      // The browser's guess may be empty (unknown extension): then the server decides.
      if (f.type && !/^image\/(png|jpeg|webp)$/.test(f.type)) { errs.push(`${f.name}: use a PNG, JPEG or WebP image.`); setBusy((b) => b - 1); continue; }
      try {
        const u = await api.upload(f, f.name);
        next = multiple ? [...next, u] : [u];
        onChange(next);
      } catch (e) {
        errs.push(`${f.name}: ${errorText(e)}`);
      }
      setBusy((b) => b - 1);
    }
    setErrors(errs);
    if (input.current) input.current.value = '';
  };

  return (
    <div className="image-picker" data-testid={testId}>
      <div className="picker-row">
        <label className="file-button">
          {label}
          <input ref={input} type="file" accept={IMAGE_TYPES} multiple={multiple}
                 onChange={(e) => pick(e.target.files)} disabled={busy > 0} />
        </label>
        {busy > 0 && <span className="muted">Uploading {busy}…</span>}
        {multiple && uploads.length > 0 && <span className="muted">{uploads.length} image{uploads.length === 1 ? '' : 's'}</span>}
      </div>
      {uploads.length > 0 && (
        <div className="thumbs">
          {uploads.map((u) => (
            <figure key={u.id} className="thumb">
              <img src={api.uploadFileUrl(u.id)} alt="" loading="lazy" />
              <figcaption>{u.width}×{u.height}</figcaption>
              <button className="remove" title="Remove" aria-label="Remove image"
                      onClick={() => onChange(uploads.filter((x) => x.id !== u.id))}>×</button>
            </figure>
          ))}
        </div>
      )}
      {errors.map((e, i) => <div key={i} className="error-text" role="alert">{e}</div>)}
    </div>
  );
}
