import type pg from 'pg';
import type { SourcePartitions } from '../apply/partition-placement.js';
import { partitionLineage, type PartitionLineage } from '../catalog/partition-lineage.js';
import { connect } from '../pg/connect.js';

/**
 * The source catalog as the applier may see it: where a partition sits.
 * Connects on first use, which for most groups is never (it is asked only
 * about relations the target lacks).
 */
export class SourcePartitionCatalog implements SourcePartitions {
  private client: Promise<pg.Client> | undefined;

  constructor(private readonly url: string, private readonly group: string) {}

  async lineage(relationId: number): Promise<PartitionLineage | undefined> {
    this.client ??= connect(this.url, { role: 'source', applicationName: `ferry:${this.group}:catalog` });
    return partitionLineage(await this.client, relationId);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await (await client.catch(() => undefined))?.end().catch(() => undefined);
  }
}
