// How a file is described on pages: "PDF, 245 KB", and the words for a refused upload, in the GOV.UK /
// NHS file upload pattern's wording ("The selected file must be …").
import type { FileRefusal } from './file-intake.service.ts';
import type { FileRow } from './files.repository.ts';

const TYPE_WORDS: Record<string, string> = { 'application/pdf': 'PDF', 'image/jpeg': 'JPEG image', 'image/png': 'PNG image' };

export function sizeInWords(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  const mb = bytes / (1024 * 1024);
  return `${mb < 10 ? mb.toFixed(1).replace(/\.0$/, '') : Math.round(mb)} MB`;
}

export function fileTypeWords(mediaType: string): string {
  return TYPE_WORDS[mediaType] ?? 'File';
}

export interface FileView {
  id: string;
  fileName: string;
  typeWords: string;
  sizeWords: string;
  isImage: boolean;
  unscanned: boolean;
  deleted: boolean;
  createdAt: Date;
}

export function fileView(file: FileRow): FileView {
  return {
    id: file.id,
    fileName: file.fileName,
    typeWords: fileTypeWords(file.mediaType),
    sizeWords: sizeInWords(file.sizeBytes),
    isImage: file.mediaType.startsWith('image/'),
    unscanned: file.scanStatus === 'unscanned',
    deleted: file.deletedAt !== null,
    createdAt: file.createdAt,
  };
}

/** The error message for a refused file; `allowedWords` is "a PDF" or "a JPG, PNG or PDF". */
export function refusalMessage(refusal: FileRefusal, opts: { allowedWords: string; maxBytes: number; maxFiles?: number; fileName?: string }): string {
  const the = opts.fileName ? `${opts.fileName}` : 'The selected file';
  switch (refusal) {
    case 'too_large':
      return `${the} must be smaller than ${sizeInWords(opts.maxBytes)}`;
    case 'empty':
      return `${the} is empty`;
    case 'not_allowed':
    case 'disguised':
      return `${the} must be ${opts.allowedWords}`;
    case 'active_content':
      return `${the} contains scripts or attachments, which are not allowed. Save it again as a plain PDF`;
    case 'infected':
      return `${the} contains a virus`;
    case 'scan_failed':
      return `${the} could not be checked for viruses. Try again later`;
    case 'limited':
      return `${opts.fileName ? `${opts.fileName} was not added: you` : 'You'} have added a lot of files. Try again in an hour, or contact the practice`;
    case 'too_many':
      return opts.fileName ? `${opts.fileName} was not added: you can add up to ${opts.maxFiles ?? 1} files` : `You can add up to ${opts.maxFiles ?? 1} files`;
  }
}
