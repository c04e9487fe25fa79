from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0003_held_sweeps"),
    ]

    operations = [
        migrations.AddField(
            model_name="calendarconnection",
            name="shown_in_week",
            field=models.BooleanField(default=True, help_text="Shown in the week view (its legend toggles it)."),
        ),
    ]
