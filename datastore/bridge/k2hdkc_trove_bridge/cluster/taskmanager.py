"""trove-taskmanager side of k2hdkc clusters.

create / grow: every (new) member got Trove's normal prepare cast with cluster_config; wait
until each reports prepared ('instance ready', which the k2hdkc agent sends for a cluster
member, or already 'healthy'), call cluster_complete on each, then wait for HEALTHY with
Trove 18's own ClusterTasks._all_instances_acquire_status. Trove 18 has no
_all_instances_healthy (it came in Trove 21).
shrink: ask each leaving member to stop and deregister, delete it through Trove's
Instance.delete (allowed while the cluster is SHRINKING_CLUSTER), wait until it is gone.
"""

from eventlet.timeout import Timeout
from oslo_log import log as logging

from trove.common import cfg
from trove.common import clients
from trove.common import exception
from trove.common.strategies.cluster import base
from trove.common import utils
from trove.instance import models as inst_models
from trove.instance.models import DBInstance
from trove.instance.models import InstanceServiceStatus
from trove.instance.service_status import ServiceStatuses
from trove.instance.tasks import InstanceTasks
from trove.taskmanager import api as task_api
from trove.taskmanager import models as task_models

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# What a member reports once its prepare finished.
PREPARED = (ServiceStatuses.INSTANCE_READY, ServiceStatuses.HEALTHY)
FAST_FAIL = [ServiceStatuses.FAILED, ServiceStatuses.FAILED_TIMEOUT_GUESTAGENT]


class K2hdkcTaskManagerStrategy(base.BaseTaskManagerStrategy):

    @property
    def task_manager_api_class(self):
        return K2hdkcTaskManagerAPI

    @property
    def task_manager_cluster_tasks_class(self):
        return K2hdkcClusterTasks

    @property
    def task_manager_manager_actions(self):
        return {}


class K2hdkcTaskManagerAPI(task_api.API):
    """Trove's casts (create_cluster, grow_cluster, shrink_cluster) as they are."""


class MembersFailed(exception.TroveError):
    message = 'k2hdkc cluster members failed: %(ids)s.'


class K2hdkcClusterTasks(task_models.ClusterTasks):

    # The members a failure marks; None = all (Trove's behaviour).
    _scope = None

    def update_statuses_on_failure(self, cluster_id, shard_id=None,
                                   status=None):
        if self._scope is None:
            return super(K2hdkcClusterTasks, self).update_statuses_on_failure(
                cluster_id, shard_id, status)
        if not CONF.update_status_on_fail:
            return
        for instance_id in self._scope:
            db_instance = DBInstance.find_by(id=instance_id)
            db_instance.set_task_status(
                status or InstanceTasks.BUILDING_ERROR_SERVER)
            db_instance.save()

    def _guest(self, context, instance_id):
        return clients.create_guest_client(context, instance_id,
                                           self.ds_version.manager)

    def _failed_members(self, ids):
        failed = []
        for instance_id in ids:
            status = InstanceServiceStatus.find_by(
                instance_id=instance_id).get_status()
            task = DBInstance.find_by(id=instance_id).get_task_status()
            if (status in FAST_FAIL or
                    task == InstanceTasks.BUILDING_ERROR_SERVER):
                failed.append(instance_id)
        return failed

    def wait_for_prepared(self, ids):
        """Polls until every member reports PREPARED; raises MembersFailed as soon
        as one failed, PollTimeOut after usage_timeout."""
        def state():
            failed = self._failed_members(ids)
            if failed:
                return failed
            for instance_id in ids:
                status = InstanceServiceStatus.find_by(
                    instance_id=instance_id).get_status()
                if status not in PREPARED:
                    return None
            return []

        failed = utils.poll_until(state, lambda result: result is not None,
                                  sleep_time=CONF.usage_sleep_time,
                                  time_out=CONF.usage_timeout)
        if failed:
            raise MembersFailed(ids=', '.join(failed))

    def complete_members(self, context, cluster_id, ids, failure_task):
        """prepared -> cluster_complete -> HEALTHY, for `ids`; the cluster task goes
        back to NONE whatever happens, failed members get `failure_task`."""
        LOG.debug('k2hdkc cluster %s: completing members %s.', cluster_id, ids)
        timeout = Timeout(CONF.cluster_usage_timeout)
        try:
            self.wait_for_prepared(ids)
            for instance_id in ids:
                self._guest(context, instance_id).cluster_complete()
            if not self._all_instances_acquire_status(
                    ids, cluster_id, None, ServiceStatuses.HEALTHY,
                    fast_fail_statuses=FAST_FAIL):
                # _all_instances_acquire_status marked the members already.
                LOG.error('k2hdkc cluster %s: members did not become '
                          'healthy after cluster_complete.', cluster_id)
                return False
            LOG.info('k2hdkc cluster %s: members %s healthy.', cluster_id, ids)
            return True
        except Timeout as t:
            if t is not timeout:
                raise
            LOG.exception('k2hdkc cluster %s: timed out.', cluster_id)
            self.update_statuses_on_failure(cluster_id, status=failure_task)
            return False
        except Exception:
            LOG.exception('k2hdkc cluster %s: completing members failed.',
                          cluster_id)
            self.update_statuses_on_failure(cluster_id, status=failure_task)
            return False
        finally:
            timeout.cancel()
            self.reset_task()

    def create_cluster(self, context, cluster_id):
        ids = [db.id for db in DBInstance.find_all(cluster_id=cluster_id,
                                                   deleted=False).all()]
        self._scope = None
        return self.complete_members(context, cluster_id, ids,
                                     InstanceTasks.BUILDING_ERROR_SERVER)

    def grow_cluster(self, context, cluster_id, new_instance_ids):
        # A failing new member must not mark the healthy old ones.
        self._scope = list(new_instance_ids)
        return self.complete_members(context, cluster_id,
                                     list(new_instance_ids),
                                     InstanceTasks.GROWING_ERROR)

    def shrink_cluster(self, context, cluster_id, instance_ids):
        ids = list(instance_ids)
        self._scope = ids
        LOG.debug('k2hdkc cluster %s: removing members %s.', cluster_id, ids)
        timeout = Timeout(CONF.cluster_usage_timeout)
        try:
            for instance_id in ids:
                try:
                    self._guest(context, instance_id).leave_cluster()
                except Exception as e:
                    # A broken member is removed anyway; K2HR3 drops it with the VM.
                    LOG.warning('k2hdkc member %s did not stop cleanly: %s',
                                instance_id, e)
            for instance_id in ids:
                inst_models.load_any_instance(context, instance_id).delete()

            def gone():
                left = DBInstance.find_all(cluster_id=cluster_id,
                                           deleted=False).all()
                return not any(db.id in ids for db in left)

            utils.poll_until(gone, sleep_time=CONF.usage_sleep_time,
                             time_out=CONF.cluster_delete_time_out)
            LOG.info('k2hdkc cluster %s: members %s removed.', cluster_id, ids)
            return True
        except Timeout as t:
            if t is not timeout:
                raise
            LOG.exception('k2hdkc cluster %s: shrink timed out.', cluster_id)
            self.update_statuses_on_failure(
                cluster_id, status=InstanceTasks.SHRINKING_ERROR)
            return False
        except Exception:
            LOG.exception('k2hdkc cluster %s: shrink failed.', cluster_id)
            self.update_statuses_on_failure(
                cluster_id, status=InstanceTasks.SHRINKING_ERROR)
            return False
        finally:
            timeout.cancel()
            self.reset_task()
