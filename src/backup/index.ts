/** The backup library's public surface, for the agent's wiring (issue 4). */
export { createBackup, type BackupInfo, type BackupStatusUpdate, type CreateBackupOptions } from './create';
export { restoreBackup, discardRestore, type RestoreInfo, type RestoreBackupOptions, type RestoredBackup } from './restore';
export { uploadBackupStream, downloadBackupStream, checkBackupObject, DEFAULT_SEGMENT_SIZE, type BackupProgress, type UploadResult } from './stream';
export { SwiftClient, parseLocation, type SwiftOptions } from './swift';
export { backupObjectName, segmentName, troveChecksum } from './naming';
export { createEncryptStream, createDecryptStream } from './crypto';
export { DEFAULT_ENTRY_PREFIX, ARCHIVE_SUFFIX } from './archive';
export { k2hArchiveProducer, DEFAULT_ARCHIVE_NAME, type K2hArchiveOptions } from './k2h-archive';
