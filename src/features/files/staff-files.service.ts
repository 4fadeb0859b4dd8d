// Staff looking at a file: a download, or an image's thumbnail. The file must be their organisation's
// and part of something sent (never another staff member's unsent draft); every look is audited.
import sharp from 'sharp';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { NotFound, NotPermitted } from '../../platform/errors.ts';
import { findItemKind } from '../conversations/conversations.repository.ts';
import { roleMay, type StaffRole } from '../staff/permissions.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import pLimit from 'p-limit';
import { FileGone, openFile } from './file-intake.service.ts';
import { findOrganisationFile, type FileRow } from './files.repository.ts';

/** A thumbnail's longest side, in pixels. */
export const THUMBNAIL_PIXELS = 480;
// A decompression bomb (a small file that decodes to a huge image) stops here, not in the server's
// memory: 24 megapixels is more than a phone camera takes, and about 100 MB decoded.
const MAX_INPUT_PIXELS = 24_000_000;
// A conversation page asks for all its thumbnails at once; a few at a time keeps decoding's memory bounded.
const thumbnailSlots = pLimit(2);

/** The image could not be made into a thumbnail (damaged, or beyond the pixel limit): the page shows its name instead. */
export class NoThumbnail extends Error {}

export { FileGone };

interface StaffFileRequest {
  organisationId: string;
  staffId: string;
  role: StaffRole;
  fileId: string;
  ip: string;
}

async function sentFile(services: Services, input: StaffFileRequest): Promise<FileRow> {
  const file = isUuid(input.fileId) ? await findOrganisationFile(services.db, input.organisationId, input.fileId) : undefined;
  if (!file || file.itemId === null || file.conversationId === null) throw new NotFound('Page not found', 'file not found in this organisation');
  // A file given as a questionnaire answer is clinical content, like the answers beside it.
  if (!roleMay(input.role, 'readAnswers')) {
    const itemKind = await findItemKind(services.db, file.itemId);
    if (itemKind && services.itemKinds.answerItemKinds().has(itemKind)) {
      throw new NotPermitted('You cannot use this page', 'answer files need the readAnswers permission');
    }
  }
  if (file.deletedAt) throw new FileGone();
  return file;
}

export async function downloadFileForStaff(services: Services, input: StaffFileRequest): Promise<{ file: FileRow; bytes: Readable }> {
  const file = await sentFile(services, input);
  const bytes = await openFile(services, file);
  await recordAudit(services.db, {
    type: 'file.downloaded',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: file.organisationId,
    conversationId: file.conversationId,
    details: { fileId: file.id, purpose: file.purpose },
  });
  return { file, bytes };
}

/**
 * A JPEG made from the decrypted image: turned the way the camera held it, metadata (a phone photo's
 * location) left out, at most THUMBNAIL_PIXELS a side. The original is never shown inline.
 */
export async function thumbnailForStaff(services: Services, input: StaffFileRequest): Promise<Buffer> {
  const file = await sentFile(services, input);
  if (!file.mediaType.startsWith('image/')) throw new NotFound('Page not found', 'no thumbnail for a file that is not an image');
  const thumbnail = await thumbnailSlots(async () => {
    const bytes = await openFile(services, file);
    const resize = sharp({ limitInputPixels: MAX_INPUT_PIXELS, failOn: 'truncated' })
      .rotate()
      .resize({ width: THUMBNAIL_PIXELS, height: THUMBNAIL_PIXELS, fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 80 });
    return new Promise<Buffer>((resolve, reject) => {
      pipeline(bytes, resize, (error) => {
        if (error) reject(error);
      });
      resize.toBuffer().then(resolve, reject);
    }).catch((error: unknown) => {
      bytes.destroy();
      // Decryption failing is a tampered file: a server fault, logged as one. Anything sharp refuses is the image's.
      if ((error as Error)?.name === 'FileIntegrityError') throw error;
      throw new NoThumbnail((error as Error)?.message);
    });
  });
  await recordAudit(services.db, {
    type: 'file.thumbnail_viewed',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: file.organisationId,
    conversationId: file.conversationId,
    details: { fileId: file.id },
  });
  return thumbnail;
}
