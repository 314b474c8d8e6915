"""A small fake of the glance v2 image surface Trove 18 uses (images.get, images.list).

`remote_glance_client = k2hdkc_e2e_fakes.glance.glance_client`. The images are those of
cloud.json; list() honours Trove's filters (every tag present, status) and sort/limit.
"""

from glanceclient import exc as glance_exceptions

from k2hdkc_e2e_fakes import store


class Image(dict):
    """glanceclient v2 returns dict-like schema objects: Trove reads image['id']."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)


class Images(object):
    def get(self, image_id):
        for image in store.config()['images']:
            if image['id'] == image_id:
                return Image(image)
        raise glance_exceptions.HTTPNotFound('No image found with ID %s' % image_id)

    def list(self, filters=None, sort=None, limit=None, **kwargs):
        filters = filters or {}
        tags = filters.get('tag') or []
        status = filters.get('status')
        found = [Image(i) for i in store.config()['images']
                 if all(t in i.get('tags', []) for t in tags)
                 and (status is None or i.get('status') == status)]
        if sort == 'created_at:desc':
            found.sort(key=lambda i: i['created_at'], reverse=True)
        if limit is not None:
            found = found[:int(limit)]
        return iter(found)


class FakeGlance(object):
    def __init__(self, context):
        self.images = Images()


def glance_client(context, region_name=None):
    return FakeGlance(context)
