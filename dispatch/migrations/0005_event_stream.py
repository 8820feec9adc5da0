from django.db import migrations, models
from django.db.models import Max


def streams_from_record(apps, schema_editor):
    """Each stream's newest seq, from the events already recorded."""
    Event = apps.get_model("dispatch", "Event")
    EventStream = apps.get_model("dispatch", "EventStream")
    rows = []
    console = Event.objects.filter(for_console=True).aggregate(last=Max("id"))["last"]
    if console:
        rows.append(EventStream(key="console", last_seq=console))
    by_unit = Event.objects.filter(unit_id__isnull=False).values("unit_id").annotate(last=Max("id"))
    rows += [EventStream(key=f"unit.{r['unit_id']}", last_seq=r["last"]) for r in by_unit]
    EventStream.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [
        ("dispatch", "0004_audit_keeps_who_acted"),
    ]

    operations = [
        migrations.CreateModel(
            name="EventStream",
            fields=[
                ("key", models.CharField(max_length=32, primary_key=True, serialize=False)),
                ("last_seq", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(streams_from_record, migrations.RunPython.noop),
    ]
