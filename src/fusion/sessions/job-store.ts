/**
 * On-demand scan jobs (spec 30 `/jobs`): a `tree?on_demand_scan=true` sends a `scan` command to every
 * live session of the view's pipes and records a job that completes when each of those sessions has
 * reported `job_complete` (or has ended). Completed jobs are kept for an hour, any job for a day.
 */
import { randomBytes } from 'node:crypto';
import type { Job } from '../../protocol/index.ts';

const KEEP_COMPLETED_SECONDS = 3600;
const KEEP_ANY_SECONDS = 86400;

interface JobState {
  id: string;
  viewId: string;
  path: string;
  createdAt: number;
  completedAt: number | null;
  expected: Set<string>;
  done: Set<string>;
}

export class JobStore {
  private readonly jobs = new Map<string, JobState>();

  constructor(private readonly nowSec: () => number = () => Date.now() / 1000) {}

  create(viewId: string, path: string, sessionIds: string[]): Job {
    let id = randomBytes(4).toString('hex');
    while (this.jobs.has(id)) id = randomBytes(4).toString('hex');
    const job: JobState = { id, viewId, path, createdAt: this.nowSec(), completedAt: null, expected: new Set(sessionIds), done: new Set() };
    this.jobs.set(id, job);
    this.settle(job);
    return this.toWire(job);
  }

  /** A session reported `job_complete` (by job id, or by scan path when an older agent omits the id). */
  complete(sessionId: string, jobId: string | undefined, scanPath: string | undefined): number {
    let n = 0;
    for (const job of this.jobs.values()) {
      if (!job.expected.has(sessionId) || job.completedAt !== null) continue;
      if (jobId !== undefined ? job.id === jobId : scanPath !== undefined && job.path === scanPath) {
        job.done.add(sessionId);
        this.settle(job);
        n++;
      }
    }
    return n;
  }

  /** A session ended: it no longer holds up the jobs it was expected to run. */
  sessionEnded(sessionId: string): void {
    for (const job of this.jobs.values()) {
      if (job.completedAt === null && job.expected.delete(sessionId)) {
        job.done.delete(sessionId);
        this.settle(job);
      }
    }
  }

  /** Jobs of a view that are still running for `path` (a repeated on-demand query reuses them). */
  running(viewId: string, path: string): Job | undefined {
    for (const job of this.jobs.values()) if (job.viewId === viewId && job.path === path && job.completedAt === null) return this.toWire(job);
    return undefined;
  }

  list(viewId: string): Job[] {
    return [...this.jobs.values()].filter((j) => j.viewId === viewId).map((j) => this.toWire(j));
  }

  get(viewId: string, jobId: string): Job | undefined {
    const job = this.jobs.get(jobId);
    return job !== undefined && job.viewId === viewId ? this.toWire(job) : undefined;
  }

  dropView(viewId: string): void {
    for (const [id, job] of this.jobs) if (job.viewId === viewId) this.jobs.delete(id);
  }

  purge(): void {
    const now = this.nowSec();
    for (const [id, job] of this.jobs) {
      if ((job.completedAt !== null && now - job.completedAt > KEEP_COMPLETED_SECONDS) || now - job.createdAt > KEEP_ANY_SECONDS) this.jobs.delete(id);
    }
  }

  private settle(job: JobState): void {
    if (job.completedAt === null && job.done.size >= job.expected.size) job.completedAt = this.nowSec();
  }

  private toWire(job: JobState): Job {
    const total = job.expected.size;
    const completed = Math.min(job.done.size, total);
    return {
      job_id: job.id,
      view_id: job.viewId,
      path: job.path,
      status: job.completedAt === null ? 'RUNNING' : 'COMPLETED',
      progress: { completed, total, percentage: total === 0 ? 100 : Math.round((completed / total) * 1000) / 10 },
      created_at: job.createdAt,
      completed_at: job.completedAt,
    };
  }
}
