/** The backup library's public surface, for the agent's wiring (issue 4). */
export { createBackup, type BackupInfo, type BackupStatusUpdate, type CreateBackupOptions, type CreateProgress } from './create';
export { restoreBackup, discardRestore, type RestoreInfo, type RestoreBackupOptions, type RestoredBackup } from './restore';
export { uploadBackupStream, downloadBackupStream, checkBackupObject, DEFAULT_SEGMENT_SIZE, type BackupProgress, type UploadResult } from './stream';
export { SwiftClient, parseLocation, type SwiftOptions } from './swift';
export { backupObjectName, segmentName, troveChecksum } from './naming';
export { createEncryptStream, createDecryptStream } from './crypto';
export { DEFAULT_ENTRY_PREFIX, ARCHIVE_SUFFIX } from './archive';
export { k2hArchiveProducer, DEFAULT_ARCHIVE_NAME, type K2hArchiveOptions } from './k2h-archive';
export { swiftStorageUrl, type SwiftEndpointConfig } from './endpoint';
export { dataFileOf, readDataFile, geometryArgs, DEFAULT_K2HFILE, type K2hDataFile } from './k2h-datafile';
export { loadArchivesIntoDataFile, type LoadArchivesOptions, type LoadedDataFile } from './k2h-load';
